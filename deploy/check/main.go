// Command check verifies Vox's deployment files against each other and
// against the vox binary:
//
//   - every kustomize overlay under deploy/k8s/overlays builds, and every
//     object decodes strictly (unknown fields are errors) into its typed
//     Kubernetes API struct (KafkaUser into kafkaUser, below); an unknown
//     kind is an error;
//   - the invariants of the pods, services, disruption budgets, network
//     policies and Kafka users hold (invariants.go);
//   - the traffic the network policies allow equals the table between
//     <!-- traffic-matrix:begin --> and <!-- traffic-matrix:end --> in
//     ARCHITECTURE.md (netpol.go);
//   - docker-compose.yml loads with compose-go (every profile, no error, no
//     warning), and every `--flag` and `VOX_*` variable that a compose
//     service or a Kubernetes container gives `vox` is one that
//     `vox <subcommand> --help` lists (vox.go).
//
// Run from the repository root:
//
//	go -C deploy/check run . -vox-bin "$PWD/target/debug/vox"
//
// or as a test (VOX_BIN names the binary):
//
//	VOX_BIN="$PWD/target/debug/vox" go -C deploy/check test ./...
//
// It prints one line per problem (file, object, field, what is wrong) and
// exits 1 if there is any.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// Config says where the files are. Relative paths are relative to Root.
type Config struct {
	Root         string // the repository root
	K8s          string // the kustomize tree: base/ and overlays/<env>/
	Architecture string // the document holding the traffic matrix
	Compose      string // the compose file
	VoxBin       string // the vox binary ("" = the flag and variable checks fail)
}

func (c Config) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Root, p)
}

// DefaultConfig: the repository two levels above this module (where `go -C
// deploy/check run .` and `go test` run), VOX_BIN from the environment.
func DefaultConfig() Config {
	root := "../.."
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return Config{
		Root:         root,
		K8s:          "deploy/k8s",
		Architecture: "ARCHITECTURE.md",
		Compose:      "docker-compose.yml",
		VoxBin:       os.Getenv("VOX_BIN"),
	}
}

func main() {
	c := DefaultConfig()
	flag.StringVar(&c.Root, "root", c.Root, "repository root; the other paths are relative to it")
	flag.StringVar(&c.K8s, "k8s", c.K8s, "kustomize tree with base/ and overlays/<env>/")
	flag.StringVar(&c.Architecture, "architecture", c.Architecture, "markdown file with the traffic matrix between <!-- traffic-matrix:begin --> and <!-- traffic-matrix:end -->")
	flag.StringVar(&c.Compose, "compose", c.Compose, "docker compose file")
	flag.StringVar(&c.VoxBin, "vox-bin", c.VoxBin, "the vox binary, for `vox <subcommand> --help` (default: $VOX_BIN)")
	printOverlay := flag.String("print-overlay", "", "print what overlay `ENV` builds (YAML, as kustomize build does) and exit")
	printMatrix := flag.Bool("print-matrix", false, "print the traffic matrix derived from the network policies (markdown) and exit")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "check: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *printOverlay != "" {
		out, err := BuildYAML(c, *printOverlay)
		if err != nil {
			fmt.Fprintf(os.Stderr, "check: %v\n", err)
			os.Exit(1)
		}
		os.Stdout.Write(out)
		return
	}
	if *printMatrix {
		envs, problems := BuildOverlays(c)
		if problems.Any() {
			problems.Print(os.Stderr)
			os.Exit(1)
		}
		fmt.Print(DeriveMatrix(envs).Markdown())
		return
	}
	problems := Run(c)
	if problems.Any() {
		problems.Print(os.Stderr)
		fmt.Fprintf(os.Stderr, "check: %d problem(s)\n", problems.Len())
		os.Exit(1)
	}
	fmt.Println("check: deploy/k8s overlays, traffic matrix, docker-compose.yml and vox flags agree")
}

// Run does every check.
func Run(c Config) *Problems {
	p := &Problems{}
	envs, buildProblems := BuildOverlays(c)
	p.Merge(buildProblems)
	CheckInvariants(envs, p)
	CheckMatrix(envs, c.path(c.Architecture), rel(c, c.path(c.Architecture)), p)
	vox := NewVoxHelp(c.VoxBin)
	CheckCompose(c.path(c.Compose), rel(c, c.path(c.Compose)), vox, p)
	CheckK8sCommands(envs, vox, p)
	return p
}

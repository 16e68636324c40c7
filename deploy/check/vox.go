package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// VoxHelp runs `vox <subcommand…> --help` and remembers what it lists.
type VoxHelp struct {
	bin   string
	cache map[string]*Help
}

// Help is what one `--help` lists.
type Help struct {
	Flags       map[string]bool // --long and -s
	Vars        map[string]bool // VOX_… from `[env: VOX_…=]`
	Subcommands map[string]bool
	Err         error
}

func NewVoxHelp(bin string) *VoxHelp {
	return &VoxHelp{bin: bin, cache: map[string]*Help{}}
}

var (
	flagPattern = regexp.MustCompile(`(?m)^\s+(?:(-[A-Za-z0-9]),\s+)?(--[A-Za-z0-9][A-Za-z0-9-]*)`)
	varPattern  = regexp.MustCompile(`\[env: ([A-Z][A-Z0-9_]*)(?:=[^\]]*)?\]`)
	cmdPattern  = regexp.MustCompile(`^\s{2}([a-z][a-z0-9-]*)\s`)
)

// For runs `vox <path…> --help` (path without "vox").
func (v *VoxHelp) For(path []string) *Help {
	key := strings.Join(path, " ")
	if h, ok := v.cache[key]; ok {
		return h
	}
	h := &Help{Flags: map[string]bool{}, Vars: map[string]bool{}, Subcommands: map[string]bool{}}
	v.cache[key] = h
	if v.bin == "" {
		h.Err = fmt.Errorf("no vox binary to ask: give -vox-bin or VOX_BIN (e.g. target/debug/vox)")
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.bin, append(append([]string{}, path...), "--help")...)
	// No VOX_* of ours in its environment: clap would print their values.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		h.Err = fmt.Errorf("`%s %s --help` failed: %v %s", v.bin, key, err, strings.TrimSpace(stderr.String()))
		return h
	}
	text := out.String()
	for _, m := range flagPattern.FindAllStringSubmatch(text, -1) {
		if m[1] != "" {
			h.Flags[m[1]] = true
		}
		h.Flags[m[2]] = true
	}
	for _, m := range varPattern.FindAllStringSubmatch(text, -1) {
		h.Vars[m[1]] = true
	}
	inCommands := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "Commands:":
			inCommands = true
		case inCommands && strings.TrimSpace(line) == "":
			inCommands = false
		case inCommands:
			if m := cmdPattern.FindStringSubmatch(line); m != nil && m[1] != "help" {
				h.Subcommands[m[1]] = true
			}
		}
	}
	if len(h.Flags) == 0 {
		h.Err = fmt.Errorf("`vox %s --help` lists no flags: is %s the vox binary?", key, v.bin)
	}
	return h
}

// CheckArgv checks a vox command line and the names of its environment
// against `vox <subcommand> --help`; where says whose they are (file,
// object, field prefix). Returns false if argv does not run vox.
func (v *VoxHelp) CheckArgv(argv []string, envNames []string, where string, p *Problems) bool {
	if len(argv) == 0 || path.Base(argv[0]) != "vox" {
		return false
	}
	// The subcommand path: the leading words that `--help` lists as commands.
	var sub []string
	i := 1
	for ; i < len(argv); i++ {
		h := v.For(sub)
		if h.Err != nil {
			p.Addf("%s: command: %v", where, h.Err)
			return true
		}
		if !h.Subcommands[argv[i]] {
			break
		}
		sub = append(sub, argv[i])
	}
	h := v.For(sub)
	if h.Err != nil {
		p.Addf("%s: command: %v", where, h.Err)
		return true
	}
	name := "vox " + strings.Join(sub, " ")
	if len(sub) == 0 && len(h.Subcommands) > 0 {
		p.Addf("%s: command: %q names no subcommand of vox", where, strings.Join(argv, " "))
	}
	for _, a := range argv[i:] {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		flag, _, _ := strings.Cut(a, "=")
		if !strings.HasPrefix(flag, "--") && len(flag) > 2 {
			flag = flag[:2] // -xVALUE
		}
		if !h.Flags[flag] {
			p.Addf("%s: command: %s is not a flag of `%s` (%s)", where, flag, name, strings.Join(sortedKeys(h.Flags), " "))
		}
	}
	for _, n := range envNames {
		if _, known := unlistedVars[n]; known {
			continue
		}
		if strings.HasPrefix(n, "VOX_") && !h.Vars[n] {
			p.Addf("%s: environment: %s is not a variable of `%s` (`%s --help` lists %s)", where, n, name, name, strings.Join(sortedKeys(h.Vars), " "))
		}
	}
	return true
}

// Variables vox reads that are no clap setting, so that no --help lists
// them, and why.
var unlistedVars = map[string]string{
	"VOX_LOG": "the log filter, read by tracing_subscriber's EnvFilter (vox/src/cli.rs; README: VOX_LOG=debug)",
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// warnings collects what compose-go logs at warning level or above.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, e.Message)
	return nil
}

// LoadCompose loads a compose file with compose-go as `docker compose` does,
// every profile enabled, with each variable that the file uses without a
// default set to a dummy value (and nothing else from the environment, so
// that the result does not depend on the caller's). Warnings are problems.
func LoadCompose(file, display string, p *Problems) (*Project, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var dict map[string]any
	if err := yaml.Unmarshal(data, &dict); err != nil {
		return nil, fmt.Errorf("not YAML: %v", err)
	}
	env := []string{}
	vars := template.ExtractVariables(dict, template.DefaultPattern)
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := vars[name]
		if v.DefaultValue == "" {
			env = append(env, name+"=dummy-"+strings.ToLower(name))
		}
	}
	w := &warnings{}
	logger := logrus.StandardLogger()
	oldOut, oldHooks := logger.Out, logger.Hooks
	logger.SetOutput(io.Discard)
	logger.ReplaceHooks(logrus.LevelHooks{})
	logger.AddHook(w)
	defer func() {
		logger.SetOutput(oldOut)
		logger.ReplaceHooks(oldHooks)
	}()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithName("vox-check"),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"*"}),
	)
	if err != nil {
		return nil, err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	for _, msg := range w.list {
		p.Addf("%s: compose-go warns: %s", display, msg)
	}
	return &Project{project.Services, names}, nil
}

type composeService = types.ServiceConfig

// Project: what the checks need of a loaded compose project.
type Project struct {
	Services  map[string]composeService
	Variables []string
}

// CheckCompose loads the compose file and checks every service that runs
// vox against its --help.
func CheckCompose(file, display string, vox *VoxHelp, p *Problems) {
	project, err := LoadCompose(file, display, p)
	if err != nil {
		p.Addf("%s: compose-go cannot load it: %v", display, err)
		return
	}
	names := make([]string, 0, len(project.Services))
	for name := range project.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	ran := 0
	for _, name := range names {
		s := project.Services[name]
		argv := append(append([]string{}, s.Entrypoint...), s.Command...)
		var envNames []string
		for k := range s.Environment {
			envNames = append(envNames, k)
		}
		sort.Strings(envNames)
		if vox.CheckArgv(argv, envNames, fmt.Sprintf("%s: service %s", display, name), p) {
			ran++
		}
	}
	if ran == 0 {
		p.Addf("%s: no service runs vox (command [\"vox\", …]): nothing to check", display)
	}
}

// CheckK8sCommands checks every container of every overlay that runs vox.
func CheckK8sCommands(envs []*Env, vox *VoxHelp, p *Problems) {
	for _, env := range envs {
		for _, w := range workloads(env) {
			for _, c := range append(append([]corev1.Container{}, w.Template.Spec.InitContainers...), w.Template.Spec.Containers...) {
				var envNames []string
				for _, e := range c.Env {
					envNames = append(envNames, e.Name)
				}
				vox.CheckArgv(argv(&c), envNames, fmt.Sprintf("%s: spec.template.spec.containers[%s]", w.Obj.Where(), c.Name), p)
			}
		}
	}
}

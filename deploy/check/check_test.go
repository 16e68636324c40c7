package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDeployment is the whole check on the repository (what `go run .`
// does): the overlays, ARCHITECTURE.md's traffic matrix, docker-compose.yml
// and the vox binary named by VOX_BIN.
func TestDeployment(t *testing.T) {
	c := DefaultConfig()
	if c.VoxBin == "" {
		t.Fatal("VOX_BIN is not set: give the vox binary (e.g. VOX_BIN=$PWD/target/debug/vox go -C deploy/check test ./...)")
	}
	if p := Run(c); p.Any() {
		var b strings.Builder
		p.Print(&b)
		t.Fatalf("%d problem(s):\n%s", p.Len(), b.String())
	}
}

// built: the repository's overlays, which must build without problems.
func built(t *testing.T) []*Env {
	t.Helper()
	envs, p := BuildOverlays(DefaultConfig())
	if p.Any() {
		t.Fatalf("the overlays do not build: %v", p.List())
	}
	if len(envs) != 3 {
		t.Fatalf("want 3 overlays (prod, stage, test), got %d", len(envs))
	}
	return envs
}

func invariantProblems(envs []*Env) []string {
	p := &Problems{}
	CheckInvariants(envs, p)
	return p.List()
}

func wantProblem(t *testing.T, problems []string, parts ...string) {
	t.Helper()
	for _, line := range problems {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(line, part)
		}
		if all {
			return
		}
	}
	t.Errorf("no problem mentions %q; problems:\n%s", parts, strings.Join(problems, "\n"))
}

func find[T any](env *Env, name string) T {
	for _, o := range env.Objects {
		if v, ok := o.Value.(T); ok && o.Name == name {
			return v
		}
	}
	var zero T
	return zero
}

func TestOverlaysHoldTheInvariants(t *testing.T) {
	if problems := invariantProblems(built(t)); len(problems) > 0 {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
}

func TestStrictDecoding(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":      `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replica":3}}`,
		"case of a field":    `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"Replicas":3}}`,
		"duplicate field":    `{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":3,"replicas":2}}`,
		"kafkauser field":    `{"apiVersion":"kafka.strimzi.io/v1beta2","kind":"KafkaUser","spec":{"authorisation":{"type":"simple"}}}`,
		"kafkauser acl type": `{"spec":{"authorization":{"type":"simple","acls":[{"resource":{"type":"topic","name":"t","pattern":"literal"}}]}}}`,
	} {
		var v any = &appsv1.Deployment{}
		if strings.Contains(doc, "KafkaUser") || strings.Contains(doc, "acls") {
			v = &kafkaUser{}
		}
		if err := decodeStrict([]byte(doc), v); err == nil {
			t.Errorf("%s: %s decoded without an error", name, doc)
		}
	}
	if err := decodeStrict([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":3}}`), &appsv1.Deployment{}); err != nil {
		t.Errorf("a valid object: %v", err)
	}
}

// A kustomize tree in a temporary directory: base with the given extra
// resource, one overlay.
func tree(t *testing.T, extra string) Config {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"k/base/kustomization.yaml":       "resources: [extra.yaml]\n",
		"k/base/extra.yaml":               extra,
		"k/overlays/x/kustomization.yaml": "namespace: vox-x\nresources: [../../base]\n",
	}
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Config{Root: root, K8s: "k"}
}

func TestUnknownKindAndFieldAreProblems(t *testing.T) {
	c := tree(t, "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n")
	_, p := BuildOverlays(c)
	wantProblem(t, p.List(), "k/base/extra.yaml (overlay x): Ingress vox-x/web", "unknown kind")

	c = tree(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {a: b}\n  ports:\n  - port: 1\n    targetport: 2\n")
	_, p = BuildOverlays(c)
	wantProblem(t, p.List(), "k/base/extra.yaml (overlay x): Service vox-x/web", "targetport")
}

func TestInvariantViolationsAreNamed(t *testing.T) {
	envs := built(t)
	prod := envs[0]
	ingest := find[*appsv1.Deployment](prod, "vox-ingest")
	c := &ingest.Spec.Template.Spec.Containers[0]
	no := false
	c.SecurityContext.ReadOnlyRootFilesystem = &no
	c.LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP
	c.ReadinessProbe.HTTPGet.Port.StrVal = "https"
	delete(c.Resources.Limits, corev1.ResourceMemory)
	ingest.Spec.Template.Spec.InitContainers[0].SecurityContext.Capabilities.Drop = nil
	processor := find[*appsv1.StatefulSet](prod, "vox-processor")
	processor.Spec.Template.Spec.Containers[0].Env = processor.Spec.Template.Spec.Containers[0].Env[1:] // VOX_INSTANCE_ID
	projector := find[*appsv1.Deployment](prod, "vox-projector")
	projector.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	auditor := find[*appsv1.Deployment](prod, "vox-auditor")
	two := int32(2)
	auditor.Spec.Replicas = &two
	ac := &auditor.Spec.Template.Spec.Containers[0]
	for i, e := range ac.Env {
		if e.Name == "VOX_AUDIT_KEY_FILE" {
			ac.Env = append(ac.Env[:i:i], ac.Env[i+1:]...)
			break
		}
	}
	api := &find[*appsv1.Deployment](prod, "vox-api").Spec.Template.Spec.Containers[0]
	for i, e := range api.Env {
		if e.Name == "VOX_KEK_FILE" {
			api.Env = append(api.Env[:i:i], api.Env[i+1:]...)
			break
		}
	}
	api.ReadinessProbe.HTTPGet.Port.StrVal = "https"
	for _, o := range envs[0].Objects {
		if u, ok := o.Value.(*kafkaUser); ok && o.Name == "vox-processor" {
			u.Spec.Authorization.ACLs[1].Operations = []string{"Read", "Write"} // vox.config
		}
	}
	envs[1].Objects = envs[1].Objects[:len(envs[1].Objects)-1] // stage loses a KafkaUser
	for _, o := range envs[2].Objects {
		if o.Name == "default-deny" {
			o.Value.(*networkingv1.NetworkPolicy).Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		}
	}

	problems := invariantProblems(envs)
	const ing = "deploy/k8s/base/ingest.yaml (overlay prod): Deployment vox-prod/vox-ingest: spec.template.spec."
	wantProblem(t, problems, ing+"containers[ingest].securityContext.readOnlyRootFilesystem: must be true")
	wantProblem(t, problems, ing+"containers[ingest].livenessProbe.httpGet.scheme", "HTTPS")
	wantProblem(t, problems, ing+"containers[ingest].readinessProbe.httpGet.port: https is port 8443, not the operations port 8444")
	wantProblem(t, problems, ing+"containers[ingest].resources.limits.memory: must be set")
	wantProblem(t, problems, ing+"initContainers[kek].securityContext.capabilities.drop: must contain ALL")
	wantProblem(t, problems, "deploy/k8s/base/processor.yaml (overlay prod): StatefulSet vox-prod/vox-processor: spec.template.spec.containers[processor].env[VOX_INSTANCE_ID]")
	wantProblem(t, problems, "deploy/k8s/base/projector.yaml (overlay prod): Deployment vox-prod/vox-projector: spec.strategy.type")
	const auditorPod = "deploy/k8s/base/auditor.yaml (overlay prod): Deployment vox-prod/vox-auditor: "
	wantProblem(t, problems, auditorPod+"spec.replicas: is 2: exactly one vox audit")
	wantProblem(t, problems, auditorPod+"spec.template.spec.containers[auditor].env[VOX_AUDIT_KEY_FILE]: missing")
	const apiPod = "deploy/k8s/base/api.yaml (overlay prod): Deployment vox-prod/vox-api: spec.template.spec.containers[api]."
	wantProblem(t, problems, apiPod+"env[VOX_KEK_FILE]: missing")
	wantProblem(t, problems, apiPod+"readinessProbe.httpGet.port: https is port 8447, not the operations port 8448")
	wantProblem(t, problems, "KafkaUser vox-prod/vox-processor: spec.authorization.acls[1].operations: Write on vox.config: only vox-admin and vox-api may write it")
	wantProblem(t, problems, "deploy/k8s/overlays/stage: KafkaUser vox-admin")
	wantProblem(t, problems, "deploy/k8s/overlays/test: namespace vox-test has no default-deny NetworkPolicy")
}

func TestPolicySelectorsStayInTheirEnvironment(t *testing.T) {
	envs := built(t)
	np := find[*networkingv1.NetworkPolicy](envs[0], "vox-ingest")
	np.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{metadataNameKey: "vox-stage"}}
	np.Spec.Ingress[1].From[0].NamespaceSelector = &metav1.LabelSelector{}
	problems := invariantProblems(envs)
	const where = "deploy/k8s/base/networkpolicies.yaml (overlay prod): NetworkPolicy vox-prod/vox-ingest: "
	wantProblem(t, problems, where+"spec.ingress[0].from[0].namespaceSelector: selects namespace vox-stage of environment stage")
	wantProblem(t, problems, where+"spec.ingress[1].from[0].namespaceSelector: {} selects every namespace")

	// The matrix shows what that opens (vox-stage's pods stay shut by their
	// own egress policies).
	m := DeriveMatrix(envs)
	if got := cellText(m.Rows[[2]string{"vox-stage/ingest", "ingest"}]["vox-prod"]); got != "—" {
		t.Errorf("vox-stage's ingest → vox-prod's ingest: %s, want —", got)
	}
	if got := cellText(m.Rows[[2]string{"other-namespace", "ingest"}]["vox-prod"]); got != "8444/TCP" {
		t.Errorf("other-namespace → ingest: %s, want 8444/TCP", got)
	}
}

func TestMatrix(t *testing.T) {
	envs := built(t)
	m := DeriveMatrix(envs)
	want := map[[2]string]string{
		{"ingress-nginx", "ingest"}: "8443/TCP",
		{"ingress-nginx", "api"}:    "8447/TCP",
		{"monitoring", "ingest"}:    "8444/TCP",
		{"monitoring", "api"}:       "8448/TCP",
		{"monitoring", "processor"}: "8445/TCP",
		{"monitoring", "projector"}: "8446/TCP",
		{"monitoring", "auditor"}:   "8449/TCP",
		{"ingest", "kafka"}:         "9093/TCP",
		{"api", "kafka"}:            "9093/TCP",
		{"processor", "kafka"}:      "9093/TCP",
		{"projector", "kafka"}:      "9093/TCP",
		{"auditor", "kafka"}:        "9093/TCP",
		{"admin", "kafka"}:          "9093/TCP",
		{"api", "postgresql"}:       "5432/TCP",
		{"projector", "postgresql"}: "5432/TCP",
		{"auditor", "postgresql"}:   "5432/TCP",
		{"ingest", "kube-dns"}:      "53/TCP, 53/UDP",
		{"api", "kube-dns"}:         "53/TCP, 53/UDP",
		{"processor", "kube-dns"}:   "53/TCP, 53/UDP",
		{"projector", "kube-dns"}:   "53/TCP, 53/UDP",
		{"auditor", "kube-dns"}:     "53/TCP, 53/UDP",
		{"admin", "kube-dns"}:       "53/TCP, 53/UDP",
		// Kafka's and PostgreSQL's own traffic (the default deny covers them too).
		{"kafka", "kafka"}:           "9090/TCP, 9091/TCP, 9093/TCP",
		{"kafka", "kube-dns"}:        "53/TCP, 53/UDP",
		{"kafka", "outside-address"}: "443/TCP, 6443/TCP",
		{"postgresql", "postgresql"}: "5432/TCP",
		{"postgresql", "kube-dns"}:   "53/TCP, 53/UDP",
	}
	for key, cells := range m.Rows {
		for _, env := range m.Columns {
			if got := cellText(cells[env]); got != want[key] && !(want[key] == "" && got == "—") {
				t.Errorf("%s → %s in %s: %s, want %s", key[0], key[1], env, got, want[key])
			}
		}
	}
	if len(m.Rows) != len(want) {
		t.Errorf("%d rows, want %d:\n%s", len(m.Rows), len(want), m.Markdown())
	}

	// The table round-trips, and a difference is named cell by cell.
	parsed, err := ParseMatrix("text\n" + m.Markdown() + "more text")
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(parsed, m); len(d) > 0 {
		t.Fatalf("round trip: %v", d)
	}
	doc := strings.Replace(m.Markdown(), "| projector | postgresql | 5432/TCP |", "| projector | postgresql | — |", 1)
	doc = strings.Replace(doc, "| ingest | kafka |", "| ingest | kafka |", 1)
	parsed, err = ParseMatrix(doc)
	if err != nil {
		t.Fatal(err)
	}
	d := Diff(parsed, m)
	if len(d) != 1 || d[0] != "projector → postgresql in vox-prod: documented —, the policies allow 5432/TCP" {
		t.Errorf("diff: %q", d)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ARCHITECTURE.md")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Problems{}
	CheckMatrix(envs, path, "ARCHITECTURE.md", p)
	wantProblem(t, p.List(), "ARCHITECTURE.md: traffic matrix: projector → postgresql in vox-prod: documented —, the policies allow 5432/TCP")
	wantProblem(t, p.List(), "the documented traffic matrix:", "the matrix the network policies allow:")
}

// fakeVox writes a script that answers --help like clap does for two
// subcommands.
func fakeVox(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vox")
	script := `#!/bin/sh
case "$1" in
--help) printf 'Usage: vox [OPTIONS] <COMMAND>\n\nCommands:\n  ingest  Run ingest\n  process  Run the processor\n  help  Print help\n\nOptions:\n      --region <REGION>  Region [env: VOX_REGION=]\n  -h, --help  Print help\n' ;;
ingest|process) printf 'Usage: vox %s [OPTIONS]\n\nOptions:\n      --region <REGION>  Region [env: VOX_REGION=]\n      --ops-listen <A>  Ops [env: VOX_OPS_LISTEN=]\n      --kafka-sasl-password <P>  Password [env: VOX_KAFKA_SASL_PASSWORD]\n  -h, --help  Print help\n' "$1" ;;
*) echo "error: unexpected $1" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestComposeFlagsAndVariables(t *testing.T) {
	dir := t.TempDir()
	compose := filepath.Join(dir, "docker-compose.yml")
	text := `services:
  good:
    image: x
    command: ["vox", "ingest", "--ops-listen=0.0.0.0:8444", "--region", "eu"]
    environment:
      VOX_REGION: eu
      VOX_KAFKA_SASL_PASSWORD: ${PASSWORD:?set it}
      VOX_LOG: info
      OTHER: 1
  bad:
    profiles: ["app"]
    image: x
    command: ["vox", "process", "--no-such-flag", "-x"]
    environment:
      VOX_NO_SUCH_VAR: 1
  other:
    image: x
    command: ["sh", "-c", "true"]
`
	if err := os.WriteFile(compose, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Problems{}
	CheckCompose(compose, "docker-compose.yml", NewVoxHelp(fakeVox(t)), p)
	got := p.List()
	wantProblem(t, got, "docker-compose.yml: service bad: command: --no-such-flag is not a flag of `vox process`")
	wantProblem(t, got, "docker-compose.yml: service bad: command: -x is not a flag of `vox process`")
	wantProblem(t, got, "docker-compose.yml: service bad: environment: VOX_NO_SUCH_VAR is not a variable of `vox process`")
	if len(got) != 3 {
		t.Errorf("want exactly 3 problems, got:\n%s", strings.Join(got, "\n"))
	}

	// A compose-go warning is a problem too.
	if err := os.WriteFile(compose, []byte("version: \"3\"\n"+text), 0o644); err != nil {
		t.Fatal(err)
	}
	p = &Problems{}
	CheckCompose(compose, "docker-compose.yml", NewVoxHelp(fakeVox(t)), p)
	wantProblem(t, p.List(), "docker-compose.yml: compose-go warns:", "version")
}

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// What every environment must look like.
const (
	imageName        = "ghcr.io/vox-project/vox"
	voxUID           = 10001
	voxGID           = 10001
	gracePeriod      = 30
	kafkaCluster     = "vox-kafka"
	namespacePrefix  = "vox-"
	metadataNameKey  = "kubernetes.io/metadata.name"
	componentLabel   = "app.kubernetes.io/component"
	configTopic      = "vox.config"
	strimziCluster   = "strimzi.io/cluster"
	healthzPath      = "/healthz"
	readyzPath       = "/readyz"
	opsListenFlag    = "--ops-listen"
	opsListenVar     = "VOX_OPS_LISTEN"
	instanceIDVar    = "VOX_INSTANCE_ID"
	saslUserVar      = "VOX_KAFKA_SASL_USERNAME"
	saslPasswordVar  = "VOX_KAFKA_SASL_PASSWORD"
	securityProtoVar = "VOX_KAFKA_SECURITY_PROTOCOL"
	saslMechVar      = "VOX_KAFKA_SASL_MECHANISM"
)

// The Kafka principals that may write vox.config (ARCHITECTURE.md: whoever
// can write it can create tenants and credentials): the admin CLI's and the
// people API's, which checks the caller's role before each change.
var configWriters = []string{"vox-admin", "vox-api"}

// The roles that open sealed credentials (client secrets; password hashes
// and TOTP seeds) and so need the key-encryption key.
var kekRoles = []string{"ingest", "api"}

// The roles (vox subcommands) that serve HTTPS and so need --tls-cert and
// --tls-key: without them vox writes a generated certificate into its data
// directory, or refuses to start.
var tlsRoles = []string{"ingest", "api", "process", "project", "audit"}

// The roles of which exactly one may run: a second instance fails the
// compare-and-set of the offsets it keeps in the store, by design. Each is a
// Deployment with one replica and strategy Recreate.
var singletonRoles = map[string]string{
	"project": "two projectors conflict on the stored offsets",
	"audit":   "two auditors conflict on the stored offsets and logs",
}

// Workload is a Deployment or StatefulSet with its pod template.
type Workload struct {
	Obj      *Object
	Template *corev1.PodTemplateSpec
	Replicas int32
	Recreate bool // a Deployment replaced with strategy Recreate
}

func workloads(env *Env) []*Workload {
	var ws []*Workload
	for _, o := range env.Objects {
		switch v := o.Value.(type) {
		case *appsv1.Deployment:
			ws = append(ws, &Workload{Obj: o, Template: &v.Spec.Template, Replicas: replicas(v.Spec.Replicas),
				Recreate: v.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType})
		case *appsv1.StatefulSet:
			ws = append(ws, &Workload{Obj: o, Template: &v.Spec.Template, Replicas: replicas(v.Spec.Replicas)})
		}
	}
	return ws
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func objectsOf[T any](env *Env) []*Object {
	var out []*Object
	for _, o := range env.Objects {
		if _, ok := o.Value.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// CheckInvariants checks what must hold in every environment.
func CheckInvariants(envs []*Env, p *Problems) {
	namespaces := map[string]string{}
	for _, env := range envs {
		checkNamespace(env, p)
		if other, ok := namespaces[env.Namespace]; ok && env.Namespace != "" {
			p.Addf("%s: namespace %s is also overlay %s's: every environment needs its own", env.Dir, env.Namespace, other)
		}
		namespaces[env.Namespace] = env.Name
		checkDefaultDeny(env, p)
		for _, w := range workloads(env) {
			checkWorkload(env, w, p)
		}
		checkServices(env, p)
		checkDisruptionBudgets(env, p)
		checkPolicySelectors(env, envs, p)
		checkKafkaUsers(env, p)
	}
	checkSameKafkaUsers(envs, p)
}

func checkNamespace(env *Env, p *Problems) {
	want := env.Namespace
	for _, o := range env.Objects {
		if o.Namespace != want {
			p.At(o, "metadata.namespace", "is %q, want %q (overlay %s)", o.Namespace, want, env.Name)
		}
	}
	if len(env.Objects) == 0 {
		p.Addf("%s: the overlay builds no objects", env.Dir)
	}
}

func checkDefaultDeny(env *Env, p *Problems) {
	for _, o := range objectsOf[*networkingv1.NetworkPolicy](env) {
		np := o.Value.(*networkingv1.NetworkPolicy)
		if isDefaultDeny(np) {
			return
		}
	}
	p.Addf("%s: namespace %s has no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules)", env.Dir, env.Namespace)
}

func isDefaultDeny(np *networkingv1.NetworkPolicy) bool {
	s := np.Spec
	return len(s.PodSelector.MatchLabels) == 0 && len(s.PodSelector.MatchExpressions) == 0 &&
		slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeIngress) &&
		slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeEgress) &&
		len(s.Ingress) == 0 && len(s.Egress) == 0
}

// Argv is what a container runs: command and args.
func argv(c *corev1.Container) []string {
	return append(append([]string{}, c.Command...), c.Args...)
}

// voxSubcommand: "ingest" for `vox ingest …`, "" when the container does
// not run vox.
func voxSubcommand(args []string) string {
	if len(args) < 2 || path.Base(args[0]) != "vox" || strings.HasPrefix(args[1], "-") {
		return ""
	}
	return args[1]
}

// flagValue: the value of --name (as `--name v` or `--name=v`).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func checkWorkload(env *Env, w *Workload, p *Problems) {
	o := w.Obj
	spec := &w.Template.Spec
	const podField = "spec.template.spec"
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != gracePeriod {
		p.At(o, podField+".terminationGracePeriodSeconds", "must be %d", gracePeriod)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		p.At(o, podField+".automountServiceAccountToken", "must be false (no role talks to the Kubernetes API)")
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		p.At(o, podField+".enableServiceLinks", "must be false (service links put VOX_*_SERVICE_HOST and the like into vox's environment)")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		p.At(o, podField, "must not use the host's network, PID or IPC namespace")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			p.At(o, fmt.Sprintf("%s.volumes[%s].hostPath", podField, v.Name), "no hostPath volumes")
		}
	}
	if !sameLabels(w.Template.Labels, selectorOf(o)) {
		p.At(o, "spec.selector", "does not select the pod template's labels")
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		field := fmt.Sprintf("%s.initContainers[%s]", podField, c.Name)
		checkContainer(o, spec, c, field, p)
	}
	if len(spec.Containers) == 0 {
		p.At(o, podField+".containers", "no containers")
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		field := fmt.Sprintf("%s.containers[%s]", podField, c.Name)
		checkContainer(o, spec, c, field, p)
		checkProbes(o, c, field, p)
		checkVoxContainer(env, w, c, field, p)
	}
}

func selectorOf(o *Object) *metav1.LabelSelector {
	switch v := o.Value.(type) {
	case *appsv1.Deployment:
		return v.Spec.Selector
	case *appsv1.StatefulSet:
		return v.Spec.Selector
	}
	return nil
}

func sameLabels(podLabels map[string]string, sel *metav1.LabelSelector) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

// checkContainer: the security context and resources every container
// (init containers too) must have.
func checkContainer(o *Object, pod *corev1.PodSpec, c *corev1.Container, field string, p *Problems) {
	sc := c.SecurityContext
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	runAsNonRoot := firstBool(sc.RunAsNonRoot, psc.RunAsNonRoot)
	if runAsNonRoot == nil || !*runAsNonRoot {
		p.At(o, field+".securityContext.runAsNonRoot", "must be true (here or in the pod's securityContext)")
	}
	if u := firstInt(sc.RunAsUser, psc.RunAsUser); u == nil || *u != voxUID {
		p.At(o, field+".securityContext.runAsUser", "must be %d (here or in the pod's securityContext)", voxUID)
	}
	if g := firstInt(sc.RunAsGroup, psc.RunAsGroup); g == nil || *g != voxGID {
		p.At(o, field+".securityContext.runAsGroup", "must be %d (here or in the pod's securityContext)", voxGID)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p.At(o, field+".securityContext.seccompProfile.type", "must be RuntimeDefault (here or in the pod's securityContext)")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.At(o, field+".securityContext.readOnlyRootFilesystem", "must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.At(o, field+".securityContext.allowPrivilegeEscalation", "must be false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p.At(o, field+".securityContext.privileged", "must not be true")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, corev1.Capability("ALL")) {
		p.At(o, field+".securityContext.capabilities.drop", "must contain ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		p.At(o, field+".securityContext.capabilities.add", "must be empty, not %v", sc.Capabilities.Add)
	}
	for _, kind := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q, ok := kind.list[r]
			if !ok || q.IsZero() {
				p.At(o, fmt.Sprintf("%s.resources.%s.%s", field, kind.name, r), "must be set")
			}
		}
	}
	if req, lim := c.Resources.Requests, c.Resources.Limits; req != nil && lim != nil {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			rq, ok1 := req[r]
			lq, ok2 := lim[r]
			if ok1 && ok2 && rq.Cmp(lq) > 0 {
				p.At(o, fmt.Sprintf("%s.resources.requests.%s", field, r), "%s is above the limit %s", rq.String(), lq.String())
			}
		}
	}
	repo, tag := splitImage(c.Image)
	if repo != imageName {
		p.At(o, field+".image", "is %q, want %s:<tag>", c.Image, imageName)
	} else if tag == "" || tag == "latest" {
		p.At(o, field+".image", "%q has no fixed tag: set one in the overlay's images:", c.Image)
	}
	for _, mount := range c.VolumeMounts {
		if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == mount.Name }) {
			p.At(o, fmt.Sprintf("%s.volumeMounts[%s]", field, mount.Name), "no volume of that name in the pod")
		}
	}
}

func splitImage(image string) (repo, tag string) {
	if i := strings.Index(image, "@"); i >= 0 {
		return image[:i], image[i+1:]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:]
	}
	return image, ""
}

func firstBool(a, b *bool) *bool {
	if a != nil {
		return a
	}
	return b
}

func firstInt(a, b *int64) *int64 {
	if a != nil {
		return a
	}
	return b
}

// opsPort: the port of the operations listener of a container running vox
// (--ops-listen or VOX_OPS_LISTEN), 0 if it has none.
func opsPort(c *corev1.Container) (int32, string) {
	addr, ok := flagValue(argv(c), opsListenFlag)
	source := opsListenFlag
	if !ok {
		if v := envVar(c, opsListenVar); v != nil {
			addr, ok, source = v.Value, true, opsListenVar
		}
	}
	if !ok {
		return 0, ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, source
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0, source
	}
	return int32(n), source
}

// containerPort resolves a probe's or a service's port (a number or a
// container port's name) against the container.
func containerPort(c *corev1.Container, port string) (int32, bool) {
	if n, err := strconv.Atoi(port); err == nil {
		return int32(n), true
	}
	for _, cp := range c.Ports {
		if cp.Name == port {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func checkProbes(o *Object, c *corev1.Container, field string, p *Problems) {
	ops, source := opsPort(c)
	if ops == 0 {
		p.At(o, field+".command", "no operations listener: give vox %s <address>:<port> (0.0.0.0, so that probes and monitoring reach it)", opsListenFlag)
		return
	}
	if addr, _ := flagValue(argv(c), opsListenFlag); strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "localhost") || strings.HasPrefix(addr, "[::1]") {
		p.At(o, field+".command", "%s %s listens on loopback only: probes and monitoring cannot reach it", opsListenFlag, addr)
	}
	if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == ops }) {
		p.At(o, field+".ports", "the operations port %d (%s) is not declared", ops, source)
	}
	probes := []struct {
		name     string
		probe    *corev1.Probe
		path     string
		required bool
	}{
		{"livenessProbe", c.LivenessProbe, healthzPath, true},
		{"readinessProbe", c.ReadinessProbe, readyzPath, true},
		{"startupProbe", c.StartupProbe, healthzPath, false},
	}
	for _, pr := range probes {
		f := field + "." + pr.name
		if pr.probe == nil {
			if pr.required {
				p.At(o, f, "missing: HTTPS GET %s on the operations port %d", pr.path, ops)
			}
			continue
		}
		get := pr.probe.HTTPGet
		if get == nil {
			p.At(o, f+".httpGet", "must be an HTTPS GET %s on the operations port %d", pr.path, ops)
			continue
		}
		if get.Path != pr.path {
			p.At(o, f+".httpGet.path", "is %q, want %s", get.Path, pr.path)
		}
		if get.Scheme != corev1.URISchemeHTTPS {
			p.At(o, f+".httpGet.scheme", "is %q, want HTTPS (the operations listener speaks only HTTPS)", get.Scheme)
		}
		port, ok := containerPort(c, get.Port.String())
		if !ok {
			p.At(o, f+".httpGet.port", "%q is no port of the container", get.Port.String())
		} else if port != ops {
			p.At(o, f+".httpGet.port", "%s is port %d, not the operations port %d (%s)", get.Port.String(), port, ops, source)
		}
	}
}

// The options whose value is a file vox reads, as flags and variables.
var fileOptions = map[string]string{
	"--tls-cert":       "VOX_TLS_CERT",
	"--tls-key":        "VOX_TLS_KEY",
	"--kafka-ca-file":  "VOX_KAFKA_CA_FILE",
	"--kek-file":       "VOX_KEK_FILE",
	"--config":         "VOX_CONFIG",
	"--audit-key-file": "VOX_AUDIT_KEY_FILE",
}

// checkVoxContainer: what a container running a vox role needs.
func checkVoxContainer(env *Env, w *Workload, c *corev1.Container, field string, p *Problems) {
	o := w.Obj
	args := argv(c)
	sub := voxSubcommand(args)
	if sub == "" {
		p.At(o, field+".command", "%q does not run a vox role (/usr/local/bin/vox <role> …)", strings.Join(args, " "))
		return
	}
	// `vox audit run` is the auditor; the other `vox audit …` commands are no role.
	if sub == "audit" && (len(args) < 3 || args[2] != "run") {
		p.At(o, field+".command", "%q does not run a vox role (the auditor is `vox audit run`)", strings.Join(args, " "))
		return
	}
	// Files: each on a mount of this container.
	for flagName, varName := range fileOptions {
		file, ok := flagValue(args, flagName)
		where := field + ".command " + flagName
		if !ok {
			if v := envVar(c, varName); v != nil && v.ValueFrom == nil {
				file, ok, where = v.Value, true, fmt.Sprintf("%s.env[%s]", field, varName)
			}
		}
		if !ok {
			continue
		}
		if !path.IsAbs(file) {
			p.At(o, where, "%q is not an absolute path", file)
			continue
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		}) {
			p.At(o, where, "%s is on no volume mount of the container", file)
		}
	}
	if slices.Contains(kekRoles, sub) {
		_, hasFlag := flagValue(args, "--kek-file")
		if !hasFlag && envVar(c, "VOX_KEK_FILE") == nil && envVar(c, "VOX_KEK") == nil {
			p.At(o, field+".env[VOX_KEK_FILE]", "missing: vox %s opens sealed credentials with the key-encryption key (the file the kek init container copies)", sub)
		}
	}
	if sub == "audit" {
		_, hasFlag := flagValue(args, "--audit-key-file")
		if !hasFlag && envVar(c, "VOX_AUDIT_KEY_FILE") == nil {
			p.At(o, field+".env[VOX_AUDIT_KEY_FILE]", "missing: vox audit run signs checkpoints with the audit signing key (the file the audit-key init container copies)")
		}
	}
	if slices.Contains(tlsRoles, sub) {
		_, hasCert := flagValue(args, "--tls-cert")
		_, hasKey := flagValue(args, "--tls-key")
		if (!hasCert && envVar(c, "VOX_TLS_CERT") == nil) || (!hasKey && envVar(c, "VOX_TLS_KEY") == nil) {
			p.At(o, field+".command", "vox %s needs --tls-cert and --tls-key (without them it writes a generated certificate into its data directory, or refuses to start)", sub)
		}
	}
	// Kafka: SASL_SSL with SCRAM as a KafkaUser of this environment.
	if v := envVar(c, securityProtoVar); v == nil || v.Value != "sasl_ssl" {
		p.At(o, field+".env["+securityProtoVar+"]", "must be sasl_ssl")
	}
	if v := envVar(c, saslMechVar); v == nil || v.Value != "SCRAM-SHA-512" {
		p.At(o, field+".env["+saslMechVar+"]", "must be SCRAM-SHA-512 (the KafkaUsers' authentication)")
	}
	user := envVar(c, saslUserVar)
	if user == nil || user.Value == "" {
		p.At(o, field+".env["+saslUserVar+"]", "missing: each role has its own Kafka principal")
	} else {
		if findKafkaUser(env, user.Value) == nil {
			p.At(o, field+".env["+saslUserVar+"]", "%q is no KafkaUser of this environment", user.Value)
		}
		pw := envVar(c, saslPasswordVar)
		if pw == nil || pw.ValueFrom == nil || pw.ValueFrom.SecretKeyRef == nil {
			p.At(o, field+".env["+saslPasswordVar+"]", "must come from the Strimzi user Secret %s (secretKeyRef, key password)", user.Value)
		} else if ref := pw.ValueFrom.SecretKeyRef; ref.Name != user.Value || ref.Key != "password" {
			p.At(o, field+".env["+saslPasswordVar+"]", "is secret %s key %s, want the Strimzi user Secret %s key password", ref.Name, ref.Key, user.Value)
		}
	}
	for _, secretVar := range []string{saslPasswordVar, "VOX_DATABASE_URL", "VOX_KEK", "VOX_OPS_TOKEN"} {
		if v := envVar(c, secretVar); v != nil && v.Value != "" {
			p.At(o, field+".env["+secretVar+"]", "a secret as a literal value: use valueFrom.secretKeyRef")
		}
	}
	switch sub {
	case "process":
		// Stable instance ids: a StatefulSet, the id from the pod's name.
		if _, ok := o.Value.(*appsv1.StatefulSet); !ok {
			p.At(o, "kind", "vox process needs stable instance ids: run it as a StatefulSet")
		}
		v := envVar(c, instanceIDVar)
		if v == nil || v.ValueFrom == nil || v.ValueFrom.FieldRef == nil || v.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			p.At(o, field+".env["+instanceIDVar+"]", "must come from the pod's name (valueFrom.fieldRef.fieldPath: metadata.name)")
		}
	}
	if why, ok := singletonRoles[sub]; ok {
		if _, ok := o.Value.(*appsv1.Deployment); !ok || !w.Recreate {
			p.At(o, "spec.strategy.type", "vox %s must be a Deployment with strategy Recreate (%s)", sub, why)
		}
		if w.Replicas != 1 {
			p.At(o, "spec.replicas", "is %d: exactly one vox %s (%s)", w.Replicas, sub, why)
		}
	}
}

func findKafkaUser(env *Env, name string) *kafkaUser {
	for _, o := range objectsOf[*kafkaUser](env) {
		if o.Name == name {
			return o.Value.(*kafkaUser)
		}
	}
	return nil
}

// checkServices: every Service selects pods of a workload, on ports those
// pods have.
func checkServices(env *Env, p *Problems) {
	ws := workloads(env)
	for _, o := range objectsOf[*corev1.Service](env) {
		svc := o.Value.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 {
			p.At(o, "spec.selector", "empty: selects no workload of this environment")
			continue
		}
		var matched []*Workload
		for _, w := range ws {
			if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.Template.Labels)) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			p.At(o, "spec.selector", "%v selects no workload's pods", svc.Spec.Selector)
			continue
		}
		for _, sp := range svc.Spec.Ports {
			target := sp.TargetPort.String()
			if sp.TargetPort.IntVal == 0 && sp.TargetPort.StrVal == "" {
				target = strconv.Itoa(int(sp.Port))
			}
			for _, w := range matched {
				found := false
				for i := range w.Template.Spec.Containers {
					c := &w.Template.Spec.Containers[i]
					if n, ok := containerPort(c, target); ok && slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == n }) {
						found = true
					}
				}
				if !found {
					p.At(o, fmt.Sprintf("spec.ports[%s].targetPort", sp.Name), "%s is no container port of %s %s", target, w.Obj.Kind, w.Obj.Name)
				}
			}
		}
	}
}

// checkDisruptionBudgets: every workload that rolls (all but the Recreate
// projector and auditor) has a budget, and every budget selects a workload.
func checkDisruptionBudgets(env *Env, p *Problems) {
	pdbs := objectsOf[*policyv1.PodDisruptionBudget](env)
	for _, o := range pdbs {
		pdb := o.Value.(*policyv1.PodDisruptionBudget)
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			p.At(o, "spec", "neither maxUnavailable nor minAvailable")
		}
		if pdb.Spec.MaxUnavailable != nil && pdb.Spec.MaxUnavailable.IntValue() == 0 && pdb.Spec.MaxUnavailable.StrVal == "" {
			p.At(o, "spec.maxUnavailable", "0 blocks every node drain")
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() {
			p.At(o, "spec.selector", "missing or empty")
			continue
		}
		if !slices.ContainsFunc(workloads(env), func(w *Workload) bool { return sel.Matches(labels.Set(w.Template.Labels)) }) {
			p.At(o, "spec.selector", "selects no workload's pods")
		}
	}
	for _, w := range workloads(env) {
		if w.Recreate {
			continue
		}
		covered := slices.ContainsFunc(pdbs, func(o *Object) bool {
			sel, err := metav1.LabelSelectorAsSelector(o.Value.(*policyv1.PodDisruptionBudget).Spec.Selector)
			return err == nil && !sel.Empty() && sel.Matches(labels.Set(w.Template.Labels))
		})
		if !covered {
			p.At(w.Obj, "", "no PodDisruptionBudget selects its pods")
		}
	}
}

// checkPolicySelectors: no peer of a policy may select a namespace of
// another environment (nor every namespace); peers in this namespace are
// podSelectors without a namespaceSelector.
func checkPolicySelectors(env *Env, envs []*Env, p *Problems) {
	for _, o := range objectsOf[*networkingv1.NetworkPolicy](env) {
		np := o.Value.(*networkingv1.NetworkPolicy)
		check := func(field string, peers []networkingv1.NetworkPolicyPeer) {
			for i, peer := range peers {
				f := fmt.Sprintf("%s[%d]", field, i)
				if peer.IPBlock != nil {
					if _, _, err := net.ParseCIDR(peer.IPBlock.CIDR); err != nil {
						p.At(o, f+".ipBlock.cidr", "%q is not a CIDR", peer.IPBlock.CIDR)
					}
					continue
				}
				if peer.NamespaceSelector == nil {
					continue
				}
				sel, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
				if err != nil {
					p.At(o, f+".namespaceSelector", "%v", err)
					continue
				}
				if sel.Empty() {
					p.At(o, f+".namespaceSelector", "{} selects every namespace, other environments' too")
					continue
				}
				if _, ok := peer.NamespaceSelector.MatchLabels[metadataNameKey]; !ok {
					p.At(o, f+".namespaceSelector", "select namespaces by %s (set by the API server), not by labels anyone may set", metadataNameKey)
				}
				for _, other := range envs {
					if sel.Matches(labels.Set{metadataNameKey: other.Namespace}) {
						if other == env {
							p.At(o, f+".namespaceSelector", "selects this environment's own namespace %s: use a podSelector alone", other.Namespace)
						} else {
							p.At(o, f+".namespaceSelector", "selects namespace %s of environment %s", other.Namespace, other.Name)
						}
					}
				}
			}
		}
		for i, r := range np.Spec.Ingress {
			check(fmt.Sprintf("spec.ingress[%d].from", i), r.From)
			if len(r.From) == 0 {
				p.At(o, fmt.Sprintf("spec.ingress[%d].from", i), "empty: allows every source")
			}
		}
		for i, r := range np.Spec.Egress {
			check(fmt.Sprintf("spec.egress[%d].to", i), r.To)
			if len(r.To) == 0 {
				p.At(o, fmt.Sprintf("spec.egress[%d].to", i), "empty: allows every destination")
			}
		}
	}
}

func checkKafkaUsers(env *Env, p *Problems) {
	for _, o := range objectsOf[*kafkaUser](env) {
		u := o.Value.(*kafkaUser)
		if u.Labels[strimziCluster] != kafkaCluster {
			p.At(o, "metadata.labels["+strimziCluster+"]", "is %q, want %s (the User Operator of that cluster makes the user)", u.Labels[strimziCluster], kafkaCluster)
		}
		if u.Spec.Authentication == nil || u.Spec.Authentication.Type != "scram-sha-512" {
			p.At(o, "spec.authentication.type", "must be scram-sha-512")
		}
		if u.Spec.Authorization == nil || u.Spec.Authorization.Type != "simple" {
			p.At(o, "spec.authorization.type", "must be simple")
			continue
		}
		for i, acl := range u.Spec.Authorization.ACLs {
			f := fmt.Sprintf("spec.authorization.acls[%d]", i)
			r := acl.Resource
			valid, ok := aclOperations[r.Type]
			if !ok {
				p.At(o, f+".resource.type", "%q is not topic, group, cluster or transactionalId", r.Type)
				continue
			}
			if acl.Type != "" && acl.Type != "allow" {
				p.At(o, f+".type", "%q: the users only allow", acl.Type)
			}
			if acl.Host != "" && acl.Host != "*" {
				p.At(o, f+".host", "%q: pod addresses change; leave it out", acl.Host)
			}
			if r.Type == "cluster" {
				if r.Name != "" || r.PatternType != "" {
					p.At(o, f+".resource", "a cluster resource has no name or patternType")
				}
			} else {
				if r.Name == "" || r.Name == "*" {
					p.At(o, f+".resource.name", "%q: name the resource (least privilege)", r.Name)
				}
				switch r.PatternType {
				case "", "literal":
				case "prefix":
					if r.Type != "transactionalId" {
						p.At(o, f+".resource.patternType", "prefix on a %s: name it literally (least privilege)", r.Type)
					}
				default:
					p.At(o, f+".resource.patternType", "%q is not literal or prefix", r.PatternType)
				}
			}
			if len(acl.Operations) == 0 {
				p.At(o, f+".operations", "empty")
			}
			for _, op := range acl.Operations {
				if !slices.Contains(valid, op) {
					p.At(o, f+".operations", "%q is not an operation on a %s (%s)", op, r.Type, strings.Join(valid, ", "))
				}
			}
			// ARCHITECTURE.md: whoever can write vox.config can create tenants
			// and credentials; only the admin CLI and the people API may.
			if r.Type == "topic" && r.Name == configTopic && slices.Contains(acl.Operations, "Write") && !slices.Contains(configWriters, o.Name) {
				p.At(o, f+".operations", "Write on %s: only %s may write it", configTopic, strings.Join(configWriters, " and "))
			}
		}
	}
}

// checkSameKafkaUsers: every environment has the same principals with the
// same rights.
func checkSameKafkaUsers(envs []*Env, p *Problems) {
	if len(envs) < 2 {
		return
	}
	specs := func(env *Env) map[string]string {
		m := map[string]string{}
		for _, o := range objectsOf[*kafkaUser](env) {
			b, _ := json.Marshal(o.Value.(*kafkaUser).Spec)
			m[o.Name] = string(b)
		}
		return m
	}
	first := specs(envs[0])
	for _, env := range envs[1:] {
		other := specs(env)
		for name, spec := range first {
			if other[name] != spec {
				p.Addf("%s: KafkaUser %s differs from overlay %s's (or is missing)", env.Dir, name, envs[0].Name)
			}
		}
		for name := range other {
			if _, ok := first[name]; !ok {
				p.Addf("%s: KafkaUser %s is not in overlay %s", env.Dir, name, envs[0].Name)
			}
		}
	}
}

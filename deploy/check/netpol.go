package main

import (
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The traffic matrix: which endpoint may open a connection to which other
// endpoint on which port, as the NetworkPolicies of all environments
// together allow it (Kubernetes semantics: the source's egress and the
// destination's ingress must both allow it; a pod selected by no policy of
// a direction is open in that direction).
//
// Endpoints are the pods of every environment (each workload, by its
// app.kubernetes.io/component label, and the pods that live beside them:
// Kafka, PostgreSQL, an admin CLI pod, an unlabelled pod) and stand-ins for
// the pods outside the environments: the ingress controller, monitoring,
// DNS, and a pod in any other namespace. Policies of namespaces outside the
// environments are unknown and taken to allow everything.

// Endpoint is one pod (or stand-in) of the matrix.
type Endpoint struct {
	Name      string // role name within its environment, or the external stand-in's name
	Env       *Env   // nil outside the environments
	Namespace string
	NsLabels  map[string]string
	Labels    map[string]string
	Ports     []corev1.ContainerPort // for named ports
	IP        string                 // an address outside the cluster's pods (ipBlock peers match it)
}

// Display names the endpoint relative to the environment column it is
// shown in.
func (e *Endpoint) Display(column *Env) string {
	if e.Env == nil || e.Env == column {
		return e.Name
	}
	return e.Namespace + "/" + e.Name
}

// The pods that are no workload of the overlays but live in each
// environment's namespace, with the labels the policies rely on.
var neighbours = []struct {
	name   string
	labels map[string]string
}{
	// `vox tenant …` and the other admin commands, run in a pod of the
	// namespace (deploy/k8s/README.md).
	{"admin", map[string]string{"app.kubernetes.io/name": "vox", "app.kubernetes.io/part-of": "vox", "app.kubernetes.io/component": "admin"}},
	// Strimzi's broker pods of the cluster vox-kafka.
	{"kafka", map[string]string{"strimzi.io/cluster": "vox-kafka", "strimzi.io/kind": "Kafka", "strimzi.io/name": "vox-kafka-kafka"}},
	{"postgresql", map[string]string{"app.kubernetes.io/name": "postgresql"}},
	// Any other pod someone starts in the namespace.
	{"other-pod", map[string]string{"run": "debug"}},
}

// The stand-ins outside the environments.
var externals = []struct {
	name, namespace string
	labels          map[string]string
}{
	{"ingress-nginx", "ingress-nginx", map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}},
	{"monitoring", "monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}},
	{"kube-dns", "kube-system", map[string]string{"k8s-app": "kube-dns"}},
	{"other-namespace", "default", map[string]string{"run": "other"}},
}

// An address outside the cluster's pods (the API server's, or anything on the
// internet): what ipBlock peers can reach. Pods have no address here, so an
// ipBlock never stands for a pod (policies name pods by their labels).
const outsideName, outsideIP = "outside-address", "203.0.113.10"

// The order of rows: outside first, then the roles, then their neighbours.
var rank = map[string]int{"ingress-nginx": 0, "monitoring": 1, "ingest": 10, "api": 11, "processor": 12, "projector": 13, "auditor": 14, "admin": 20, "kafka": 30, "postgresql": 31, "kube-dns": 40, outsideName: 45, "other-pod": 50, "other-namespace": 51}

func endpoints(envs []*Env) []*Endpoint {
	var eps []*Endpoint
	for _, env := range envs {
		nsLabels := map[string]string{metadataNameKey: env.Namespace}
		for _, w := range workloads(env) {
			name := w.Template.Labels[componentLabel]
			if name == "" {
				name = w.Obj.Name
			}
			var ports []corev1.ContainerPort
			for _, c := range w.Template.Spec.Containers {
				ports = append(ports, c.Ports...)
			}
			eps = append(eps, &Endpoint{Name: name, Env: env, Namespace: env.Namespace, NsLabels: nsLabels, Labels: w.Template.Labels, Ports: ports})
		}
		for _, n := range neighbours {
			eps = append(eps, &Endpoint{Name: n.name, Env: env, Namespace: env.Namespace, NsLabels: nsLabels, Labels: n.labels})
		}
	}
	for _, x := range externals {
		eps = append(eps, &Endpoint{Name: x.name, Namespace: x.namespace, NsLabels: map[string]string{metadataNameKey: x.namespace}, Labels: x.labels})
	}
	eps = append(eps, &Endpoint{Name: outsideName, IP: outsideIP})
	return eps
}

// Port is a destination port and protocol.
type Port struct {
	Number   int32
	Protocol corev1.Protocol
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Number, p.Protocol) }

// probePorts: every port a policy or a container names, DNS, and a few
// that nothing should open.
func probePorts(envs []*Env) []Port {
	set := map[Port]bool{{53, corev1.ProtocolUDP}: true, {53, corev1.ProtocolTCP}: true, {443, corev1.ProtocolTCP}: true, {80, corev1.ProtocolTCP}: true, {9092, corev1.ProtocolTCP}: true}
	for _, env := range envs {
		for _, o := range objectsOf[*networkingv1.NetworkPolicy](env) {
			np := o.Value.(*networkingv1.NetworkPolicy)
			var ports []networkingv1.NetworkPolicyPort
			for _, r := range np.Spec.Ingress {
				ports = append(ports, r.Ports...)
			}
			for _, r := range np.Spec.Egress {
				ports = append(ports, r.Ports...)
			}
			for _, pp := range ports {
				proto := protocol(pp.Protocol)
				if pp.Port != nil && pp.Port.StrVal == "" {
					set[Port{pp.Port.IntVal, proto}] = true
					if pp.EndPort != nil {
						set[Port{*pp.EndPort, proto}] = true
					}
				}
			}
		}
		for _, w := range workloads(env) {
			for _, c := range w.Template.Spec.Containers {
				for _, cp := range c.Ports {
					set[Port{cp.ContainerPort, protocol(&cp.Protocol)}] = true
				}
			}
		}
	}
	var out []Port
	for p := range set {
		out = append(out, p)
	}
	sortPorts(out)
	return out
}

func protocol(p *corev1.Protocol) corev1.Protocol {
	if p == nil || *p == "" {
		return corev1.ProtocolTCP
	}
	return *p
}

func sortPorts(ps []Port) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Number != ps[j].Number {
			return ps[i].Number < ps[j].Number
		}
		return ps[i].Protocol < ps[j].Protocol
	})
}

// policies: the NetworkPolicies in effect in a namespace.
func policies(envs []*Env, namespace string) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, env := range envs {
		if env.Namespace != namespace {
			continue
		}
		for _, o := range objectsOf[*networkingv1.NetworkPolicy](env) {
			out = append(out, o.Value.(*networkingv1.NetworkPolicy))
		}
	}
	return out
}

func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(set))
}

// peerMatches: whether a peer of a policy in namespace policyNS names ep.
func peerMatches(peer networkingv1.NetworkPolicyPeer, policyNS string, ep *Endpoint) bool {
	if peer.IPBlock != nil {
		return ipBlockMatches(peer.IPBlock, ep.IP)
	}
	if ep.IP != "" {
		return false // the outside address is no pod: only ipBlocks reach it
	}
	if peer.NamespaceSelector == nil {
		if ep.Namespace != policyNS {
			return false
		}
	} else if !selects(peer.NamespaceSelector, ep.NsLabels) {
		return false
	}
	if peer.PodSelector != nil {
		return selects(peer.PodSelector, ep.Labels)
	}
	return true
}

// portMatches: whether a rule's ports admit port p on the destination dst.
func portMatches(ports []networkingv1.NetworkPolicyPort, p Port, dst *Endpoint) bool {
	if len(ports) == 0 {
		return true
	}
	for _, pp := range ports {
		if protocol(pp.Protocol) != p.Protocol {
			continue
		}
		if pp.Port == nil {
			return true
		}
		if pp.Port.StrVal != "" {
			for _, cp := range dst.Ports {
				if cp.Name == pp.Port.StrVal && cp.ContainerPort == p.Number && protocol(&cp.Protocol) == p.Protocol {
					return true
				}
			}
			continue
		}
		end := pp.Port.IntVal
		if pp.EndPort != nil {
			end = *pp.EndPort
		}
		if p.Number >= pp.Port.IntVal && p.Number <= end {
			return true
		}
	}
	return false
}

func hasType(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) == 0 {
		// The API server's default: Ingress, and Egress if there are egress rules.
		return t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
	}
	return slices.Contains(np.Spec.PolicyTypes, t)
}

// Allowed: whether src may open a connection to dst on p.
func Allowed(envs []*Env, src, dst *Endpoint, p Port) bool {
	return egressAllowed(envs, src, dst, p) && ingressAllowed(envs, src, dst, p)
}

func egressAllowed(envs []*Env, src, dst *Endpoint, p Port) bool {
	selected := false
	for _, np := range policies(envs, src.Namespace) {
		if !hasType(np, networkingv1.PolicyTypeEgress) || !selects(&np.Spec.PodSelector, src.Labels) {
			continue
		}
		selected = true
		for _, r := range np.Spec.Egress {
			if !portMatches(r.Ports, p, dst) {
				continue
			}
			if len(r.To) == 0 || slices.ContainsFunc(r.To, func(peer networkingv1.NetworkPolicyPeer) bool { return peerMatches(peer, np.Namespace, dst) }) {
				return true
			}
		}
	}
	return !selected
}

func ingressAllowed(envs []*Env, src, dst *Endpoint, p Port) bool {
	selected := false
	for _, np := range policies(envs, dst.Namespace) {
		if !hasType(np, networkingv1.PolicyTypeIngress) || !selects(&np.Spec.PodSelector, dst.Labels) {
			continue
		}
		selected = true
		for _, r := range np.Spec.Ingress {
			if !portMatches(r.Ports, p, dst) {
				continue
			}
			if len(r.From) == 0 || slices.ContainsFunc(r.From, func(peer networkingv1.NetworkPolicyPeer) bool { return peerMatches(peer, np.Namespace, src) }) {
				return true
			}
		}
	}
	return !selected
}

// Matrix: per row (source, destination, as displayed) and environment
// column, the ports allowed.
type Matrix struct {
	Columns []string // environment namespaces
	Rows    map[[2]string]map[string][]string
}

// DeriveMatrix evaluates every pair of endpoints on every probe port. A flow
// is shown in the column of the destination's environment, or of the
// source's when the destination is outside the environments; flows between
// two stand-ins outside are not governed by these policies and left out.
func DeriveMatrix(envs []*Env) *Matrix {
	m := &Matrix{Rows: map[[2]string]map[string][]string{}}
	for _, env := range envs {
		m.Columns = append(m.Columns, env.Namespace)
	}
	eps := endpoints(envs)
	ports := probePorts(envs)
	for _, src := range eps {
		for _, dst := range eps {
			column := dst.Env
			if column == nil {
				column = src.Env
			}
			if column == nil {
				continue
			}
			for _, p := range ports {
				if Allowed(envs, src, dst, p) {
					key := [2]string{src.Display(column), dst.Display(column)}
					if m.Rows[key] == nil {
						m.Rows[key] = map[string][]string{}
					}
					cell := m.Rows[key][column.Namespace]
					if !slices.Contains(cell, p.String()) {
						m.Rows[key][column.Namespace] = append(cell, p.String())
					}
				}
			}
		}
	}
	return m
}

func endpointRank(name string) (int, string) {
	base := name
	if i := strings.LastIndex(name, "/"); i >= 0 {
		base = name[i+1:]
	}
	r, ok := rank[base]
	if !ok {
		r = 25
	}
	if base != name {
		r += 100 // other environments' pods after this one's
	}
	return r, name
}

func (m *Matrix) sortedKeys() [][2]string {
	var keys [][2]string
	for k := range m.Rows {
		keys = append(keys, k)
	}
	less := func(a, b string) int {
		ra, na := endpointRank(a)
		rb, nb := endpointRank(b)
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(na, nb)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := less(a[0], b[0]); c != 0 {
			return c
		}
		return less(a[1], b[1])
	})
	return keys
}

func cellText(ports []string) string {
	if len(ports) == 0 {
		return "—"
	}
	sorted := append([]string{}, ports...)
	slices.SortFunc(sorted, func(a, b string) int {
		na, _ := strconv.Atoi(strings.Split(a, "/")[0])
		nb, _ := strconv.Atoi(strings.Split(b, "/")[0])
		if na != nb {
			return na - nb
		}
		return strings.Compare(a, b)
	})
	return strings.Join(sorted, ", ")
}

// Markdown renders the matrix as the table ARCHITECTURE.md holds, with its
// markers.
func (m *Matrix) Markdown() string {
	var b strings.Builder
	b.WriteString(matrixBegin + "\n")
	b.WriteString("| from | to | " + strings.Join(m.Columns, " | ") + " |\n")
	b.WriteString("| --- | --- |" + strings.Repeat(" --- |", len(m.Columns)) + "\n")
	for _, k := range m.sortedKeys() {
		cells := []string{k[0], k[1]}
		for _, c := range m.Columns {
			cells = append(cells, cellText(m.Rows[k][c]))
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString(matrixEnd + "\n")
	return b.String()
}

const (
	matrixBegin = "<!-- traffic-matrix:begin -->"
	matrixEnd   = "<!-- traffic-matrix:end -->"
)

// ParseMatrix reads the table between the markers: a header `| from | to |
// <namespace> | …`, a separator row, then one row per (from, to) with the
// allowed ports per environment ("—" or "-" or empty: none).
func ParseMatrix(text string) (*Matrix, error) {
	start := strings.Index(text, matrixBegin)
	end := strings.Index(text, matrixEnd)
	if start < 0 || end < 0 || end < start {
		return nil, fmt.Errorf("no %s … %s section", matrixBegin, matrixEnd)
	}
	var rows [][]string
	for _, line := range strings.Split(text[start+len(matrixBegin):end], "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			return nil, fmt.Errorf("not a table row: %q", line)
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 || len(rows[0]) < 3 || rows[0][0] != "from" || rows[0][1] != "to" {
		return nil, fmt.Errorf("the table must start with a header | from | to | <namespace> | … | and a separator row")
	}
	m := &Matrix{Columns: rows[0][2:], Rows: map[[2]string]map[string][]string{}}
	for i, row := range rows[2:] {
		if len(row) != len(rows[0]) {
			return nil, fmt.Errorf("row %d (%s): %d cells, the header has %d", i+1, strings.Join(row, " | "), len(row), len(rows[0]))
		}
		key := [2]string{row[0], row[1]}
		if _, dup := m.Rows[key]; dup {
			return nil, fmt.Errorf("row %d: %s → %s appears twice", i+1, row[0], row[1])
		}
		m.Rows[key] = map[string][]string{}
		for j, c := range m.Columns {
			cell := row[2+j]
			if cell == "" || cell == "—" || cell == "-" {
				continue
			}
			for _, p := range strings.Split(cell, ",") {
				m.Rows[key][c] = append(m.Rows[key][c], strings.TrimSpace(p))
			}
		}
	}
	return m, nil
}

// Diff lists the cells where two matrices differ.
func Diff(want, got *Matrix) []string {
	var out []string
	if strings.Join(want.Columns, ",") != strings.Join(got.Columns, ",") {
		out = append(out, fmt.Sprintf("columns: documented %v, derived %v", want.Columns, got.Columns))
	}
	keys := map[[2]string]bool{}
	for k := range want.Rows {
		keys[k] = true
	}
	for k := range got.Rows {
		keys[k] = true
	}
	all := &Matrix{Rows: map[[2]string]map[string][]string{}}
	for k := range keys {
		all.Rows[k] = nil
	}
	for _, k := range all.sortedKeys() {
		for _, c := range got.Columns {
			w, g := cellText(want.Rows[k][c]), cellText(got.Rows[k][c])
			if w != g {
				out = append(out, fmt.Sprintf("%s → %s in %s: documented %s, the policies allow %s", k[0], k[1], c, w, g))
			}
		}
	}
	return out
}

// CheckMatrix compares the derived matrix with the documented one.
func CheckMatrix(envs []*Env, docPath, display string, p *Problems) {
	if len(envs) == 0 {
		return
	}
	got := DeriveMatrix(envs)
	text, err := os.ReadFile(docPath)
	if err != nil {
		p.Addf("%s: cannot read the traffic matrix: %v", display, err)
		return
	}
	want, err := ParseMatrix(string(text))
	if err != nil {
		p.Addf("%s: traffic matrix: %v\nthe network policies allow (paste this, markers included):\n%s", display, err, got.Markdown())
		return
	}
	if diffs := Diff(want, got); len(diffs) > 0 {
		for _, d := range diffs {
			p.Addf("%s: traffic matrix: %s", display, d)
		}
		p.Addf("%s: the documented traffic matrix:\n%s\nthe matrix the network policies allow:\n%s", display, want.Markdown(), got.Markdown())
	}
}

// ipBlockMatches: whether ip (empty for pods) is in the block and not in its exceptions.
func ipBlockMatches(block *networkingv1.IPBlock, ip string) bool {
	addr := net.ParseIP(ip)
	if addr == nil {
		return false
	}
	_, cidr, err := net.ParseCIDR(block.CIDR)
	if err != nil || !cidr.Contains(addr) {
		return false
	}
	for _, except := range block.Except {
		if _, ex, err := net.ParseCIDR(except); err == nil && ex.Contains(addr) {
			return false
		}
	}
	return true
}

package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Env is one built overlay: an environment.
type Env struct {
	Name      string // the overlay's directory name (prod, stage, test)
	Dir       string // the overlay, relative to the repository root
	Namespace string // the namespace its objects are in
	Objects   []*Object
}

// Object is one object an overlay builds, decoded into its typed struct.
type Object struct {
	Env        *Env
	File       string // where it is defined, relative to the repository root
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Value      any // *appsv1.Deployment, *corev1.Service, *kafkaUser, ...
}

// Where names the object for a problem line.
func (o *Object) Where() string {
	return fmt.Sprintf("%s (overlay %s): %s %s/%s", o.File, o.Env.Name, o.Kind, o.Namespace, o.Name)
}

// The kinds the overlays may contain, and the struct each decodes into.
// Anything else is an error: a new kind needs its checks here first.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                 func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                func() any { return &appsv1.StatefulSet{} },
	"v1/Service":                         func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                  func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                       func() any { return &corev1.ConfigMap{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":      func() any { return &policyv1.PodDisruptionBudget{} },
	"kafka.strimzi.io/v1beta2/KafkaUser": func() any { return &kafkaUser{} },
}

const originAnnotation = "config.kubernetes.io/origin"

// BuildOverlays builds every overlays/<env> of the kustomize tree with the
// kustomize Go API. The tree is copied into an in-memory file system, where
// each overlay's kustomization also asks for origin annotations (so that a
// problem names the file an object comes from); the annotation is removed
// again before decoding.
func BuildOverlays(c Config) ([]*Env, *Problems) {
	p := &Problems{}
	tree := c.path(c.K8s)
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(tree, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return mem.WriteFile(path, data)
	})
	if err != nil {
		p.Addf("%s: cannot read the kustomize tree: %v", rel(c, tree), err)
		return nil, p
	}
	overlays, err := filepath.Glob(filepath.Join(tree, "overlays", "*", "kustomization.yaml"))
	if err != nil || len(overlays) == 0 {
		p.Addf("%s: no overlays/<env>/kustomization.yaml", rel(c, tree))
		return nil, p
	}
	sort.Strings(overlays)
	var envs []*Env
	for _, kfile := range overlays {
		dir := filepath.Dir(kfile)
		env := &Env{Name: filepath.Base(dir), Dir: rel(c, dir)}
		// Every object must be in vox-<env> (checkNamespace).
		env.Namespace = namespacePrefix + env.Name
		data, _ := mem.ReadFile(kfile)
		if !strings.Contains(string(data), "buildMetadata") {
			data = append(data, []byte("\nbuildMetadata: [originAnnotations]\n")...)
			_ = mem.WriteFile(kfile, data)
		}
		k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
		resources, err := k.Run(mem, dir)
		if err != nil {
			p.Addf("%s: kustomize build failed: %v", env.Dir, err)
			continue
		}
		for _, r := range resources.Resources() {
			o := &Object{
				Env:        env,
				File:       env.Dir + "/kustomization.yaml",
				APIVersion: r.GetApiVersion(),
				Kind:       r.GetKind(),
				Name:       r.GetName(),
				Namespace:  r.GetNamespace(),
			}
			annotations := r.GetAnnotations()
			if origin, ok := annotations[originAnnotation]; ok {
				var parsed struct {
					Path string `json:"path"`
				}
				if yaml.Unmarshal([]byte(origin), &parsed) == nil && parsed.Path != "" {
					o.File = rel(c, filepath.Join(dir, parsed.Path))
				}
				delete(annotations, originAnnotation)
				if err := r.SetAnnotations(annotations); err != nil {
					p.At(o, "metadata.annotations", "%v", err)
				}
			}
			raw, err := r.MarshalJSON()
			if err != nil {
				p.At(o, "", "cannot encode the built object: %v", err)
				continue
			}
			make, ok := kinds[o.APIVersion+"/"+o.Kind]
			if !ok {
				p.At(o, "apiVersion/kind", "unknown kind %s %s: the checker knows %s", o.APIVersion, o.Kind, knownKinds())
				continue
			}
			o.Value = make()
			if err := decodeStrict(raw, o.Value); err != nil {
				p.At(o, "", "%v", err)
				continue
			}
			env.Objects = append(env.Objects, o)
		}
		envs = append(envs, env)
	}
	return envs, p
}

// decodeStrict decodes JSON into v the way the API server's strict field
// validation does: field names are case-sensitive, and unknown or
// duplicate fields are errors.
func decodeStrict(data []byte, v any) error {
	strict, err := json.UnmarshalStrict(data, v)
	if err != nil {
		return fmt.Errorf("does not decode: %v", err)
	}
	if len(strict) > 0 {
		var msgs []string
		for _, e := range strict {
			msgs = append(msgs, e.Error())
		}
		return fmt.Errorf("strict decoding: %s", strings.Join(msgs, "; "))
	}
	return nil
}

func knownKinds() string {
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// rel makes path relative to the repository root, for messages.
func rel(c Config, path string) string {
	if r, err := filepath.Rel(c.Root, path); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return path
}

// BuildYAML builds one overlay as `kustomize build` would (no origin
// annotations).
func BuildYAML(c Config, env string) ([]byte, error) {
	dir := filepath.Join(c.path(c.K8s), "overlays", env)
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	return resources.AsYaml()
}

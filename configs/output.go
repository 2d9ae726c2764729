package configs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"go.yaml.in/yaml/v3"
)

// YAML is the resolved experiment as YAML: every section with its defaults, one layer a
// line. Loading it back gives an equal Experiment.
func (e *Experiment) YAML() ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(e); err != nil {
		return nil, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	compact(&n)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Resolved experiment %q", e.Name)
	if e.Source != "" {
		fmt.Fprintf(&buf, ", from %s", e.Source)
	}
	buf.WriteString(", with defaults and overrides applied.\n# Run it again with: fcn train --config <this file>\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("experiment %s: %w", e.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compact writes layers and lists of scalars in flow style: `- {name: conv1, type: conv, ...}`.
func compact(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			compact(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "layers" && v.Kind == yaml.SequenceNode {
				for _, l := range v.Content {
					l.Style = yaml.FlowStyle
				}
				continue
			}
			compact(v)
		}
	case yaml.SequenceNode:
		flat := true
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				flat = false
				compact(c)
			}
		}
		if flat {
			n.Style = yaml.FlowStyle
		}
	}
}

// WriteYAML writes the resolved experiment to path (a run folder's config.yaml),
// atomically: a reader sees the old file or the whole new one.
func (e *Experiment) WriteYAML(path string) error {
	b, err := e.YAML()
	if err != nil {
		return err
	}
	return checkpoints.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// flatten lists the experiment's values by dotted key (model.layers[3].stride), each
// rendered canonically: the key order is that of the YAML.
func flatten(e *Experiment) ([]string, map[string]string, error) {
	b, err := yaml.Marshal(e)
	if err != nil {
		return nil, nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, nil, err
	}
	var keys []string
	vals := map[string]string{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch {
		case n.Kind == yaml.DocumentNode:
			walk(prefix, n.Content[0])
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(join(prefix, n.Content[i].Value), n.Content[i+1])
			}
		case n.Kind == yaml.SequenceNode && len(n.Content) > 0 && n.Content[0].Kind == yaml.MappingNode:
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s[%d]", prefix, i), c)
			}
		default:
			c := *n
			c.Style = yaml.FlowStyle
			out, _ := yaml.Marshal(&c)
			keys = append(keys, prefix)
			vals[prefix] = strings.TrimSpace(string(out))
		}
	}
	walk("", &root)
	return keys, vals, nil
}

// inDigest reports the keys Digest covers: the model and data sections, except
// data.prefetch, which changes speed, not results.
func inDigest(key string) bool {
	return (strings.HasPrefix(key, "model.") || strings.HasPrefix(key, "data.")) && key != "data.prefetch"
}

// Digest is a SHA-256 (hex) over the model and data sections (data.prefetch aside): a
// checkpoint records it so that a resume with another model or other data is refused.
// Two experiments have the same digest exactly when DiffDigest finds nothing. An option
// written out with its default value counts as a difference from one left out.
func Digest(e *Experiment) string {
	keys, vals, err := flatten(e)
	if err != nil {
		return "" // yaml.Marshal of these plain structs cannot fail
	}
	h := sha256.New()
	for _, k := range keys {
		if inDigest(k) {
			fmt.Fprintf(h, "%s=%s\n", k, vals[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Diff lists the dotted keys whose values differ between a and b (a key present in only
// one of them counts), in file order: e.g. [model.classes model.layers[3].stride].
func Diff(a, b *Experiment) []string {
	ka, va, errA := flatten(a)
	kb, vb, errB := flatten(b)
	if errA != nil || errB != nil {
		return []string{"(cannot compare)"}
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range append(ka, kb...) {
		if seen[k] {
			continue
		}
		seen[k] = true
		x, inA := va[k]
		y, inB := vb[k]
		if inA != inB || x != y {
			out = append(out, k)
		}
	}
	return out
}

// DiffDigest is Diff restricted to the keys Digest covers: why two digests differ.
func DiffDigest(a, b *Experiment) []string {
	var out []string
	for _, k := range Diff(a, b) {
		if inDigest(k) {
			out = append(out, k)
		}
	}
	return out
}

package configs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fcn-dev/fcn/layers"
	"go.yaml.in/yaml/v3"
)

// LayerSpec is one entry of model.layers: a named layer, its type, its inputs and its
// options. After Load, Inputs is always explicit and options that a model-wide key sets
// (a deconv's mode, from model.upsample) hold its value.
//
// Options answers for every option of the type, with the registered default where the
// file leaves one unset (layers.Options); its type is the registered layers.Type, nil
// for a type that is not registered.
type LayerSpec struct {
	Name    string
	Type    string
	Inputs  []string // layer names, or "data" for the image batch
	Options layers.Options
}

// layerType is the registered type a model layer may use, or nil.
func layerType(name string) *layers.Type {
	if t, ok := layers.Lookup(name); ok && !t.Internal {
		return t
	}
	return nil
}

// commonKeys are the keys every layer takes besides its type's options.
var commonKeys = []string{"name", "type", "inputs"}

// LayerOptions lists the keys a layer of type t accepts (name, type and inputs first),
// or nil for an unknown type.
func LayerOptions(t string) []string {
	typ := layerType(t)
	if typ == nil {
		return nil
	}
	return append(slices.Clone(commonKeys), typ.OptionKeys()...)
}

// label names a layer in messages: `model.layers[3] (upscore2)`.
func layerLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("model.layers[%d]", i)
	}
	return fmt.Sprintf("model.layers[%d] (%s)", i, name)
}

// MarshalYAML writes the layer as a file would: name, type, inputs, then the options
// that are set, in the order the type declares them.
func (l LayerSpec) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v any) error {
		var vn yaml.Node
		if err := vn.Encode(v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &vn)
		return nil
	}
	if err := add("name", l.Name); err != nil {
		return nil, err
	}
	if err := add("type", l.Type); err != nil {
		return nil, err
	}
	if len(l.Inputs) > 0 {
		if err := add("inputs", l.Inputs); err != nil {
			return nil, err
		}
	}
	if l.Options.Type() == nil {
		return n, nil
	}
	for _, k := range l.Options.SetKeys() {
		v, _ := l.Options.Value(k)
		if err := add(k, encodeOption(v)); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Layer returns the layer named name, or nil.
func (m *Model) Layer(name string) *LayerSpec {
	for i := range m.Layers {
		if m.Layers[i].Name == name {
			return &m.Layers[i]
		}
	}
	return nil
}

// Output is the name of the layer whose output the loss reads: the last one.
func (m *Model) Output() string {
	if len(m.Layers) == 0 {
		return ""
	}
	return m.Layers[len(m.Layers)-1].Name
}

// Order returns the layer indices in an order where every layer comes after its inputs:
// file order wherever the file allows it (inputs may name later layers). Load has checked
// that there is no cycle; Order returns an error if there is one.
func (m *Model) Order() ([]int, error) {
	index := make(map[string]int, len(m.Layers))
	for i, l := range m.Layers {
		index[l.Name] = i
	}
	pending := make([]int, len(m.Layers)) // inputs not yet placed
	users := make([][]int, len(m.Layers))
	for i, l := range m.Layers {
		for _, in := range l.Inputs {
			if j, ok := index[in]; ok {
				pending[i]++
				users[j] = append(users[j], i)
			}
		}
	}
	order := make([]int, 0, len(m.Layers))
	placed := make([]bool, len(m.Layers))
	// Repeatedly place the first layer in file order whose inputs are all placed: O(n²),
	// fine for networks of tens of layers, and it keeps file order when possible.
	for len(order) < len(m.Layers) {
		next := -1
		for i := range m.Layers {
			if !placed[i] && pending[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, fmt.Errorf("model.layers: %s", describeCycle(m, placed))
		}
		placed[next] = true
		order = append(order, next)
		for _, u := range users[next] {
			pending[u]--
		}
	}
	return order, nil
}

// describeCycle names one cycle among the unplaced layers: "cycle: a → b → a".
func describeCycle(m *Model, placed []bool) string {
	index := make(map[string]int, len(m.Layers))
	for i, l := range m.Layers {
		index[l.Name] = i
	}
	start := -1
	for i := range m.Layers {
		if !placed[i] {
			start = i
			break
		}
	}
	// Walk backwards along unplaced inputs until a layer repeats.
	seen := map[int]int{}
	var path []int
	for cur := start; ; {
		if at, ok := seen[cur]; ok {
			// path runs against the data flow; reverse it and start at the layer that
			// comes first in the file.
			cyc := slices.Clone(path[at:])
			slices.Reverse(cyc)
			first := slices.Index(cyc, slices.Min(cyc))
			cyc = append(cyc[first:], cyc[:first]...)
			names := make([]string, 0, len(cyc)+1)
			for _, k := range cyc {
				names = append(names, m.Layers[k].Name)
			}
			names = append(names, names[0])
			return "cycle: " + strings.Join(names, " → ")
		}
		seen[cur] = len(path)
		path = append(path, cur)
		next := -1
		for _, in := range m.Layers[cur].Inputs {
			if j, ok := index[in]; ok && !placed[j] {
				next = j
				break
			}
		}
		if next < 0 {
			return "cycle among " + m.Layers[cur].Name
		}
		cur = next
	}
}

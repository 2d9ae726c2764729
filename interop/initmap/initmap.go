// Package initmap transplants weights between naming schemes for --init-map: a map
// renames a file's tensors to the model's names, reshapes some (torchvision's fc6 Linear
// 4096×25088 into fcn's 7×7 conv 4096×512×7×7), and drops what the model cannot use
// (ImageNet's classifier, batch norm's num_batches_tracked). What the map does not
// account for is left under its own name, so checkpoints.MatchWeights lists it.
package initmap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"go.yaml.in/yaml/v3"
)

// Entry maps one tensor of the file.
type Entry struct {
	From string // name in the file
	To   string // name in the model; "" with Drop
	// Reshape gives the model's shape explicitly; ToModel reshapes to the model's
	// expected shape of To (same element count), so that one built-in map serves nets of
	// any width. Neither: the shape is kept.
	Reshape []int
	ToModel bool
	Drop    bool
	Why     string // why it is dropped, for the report
}

// Map is a named list of entries.
type Map struct {
	Name    string
	Entries []Entry
}

// Result is a map applied to a file's tensors.
type Result struct {
	Tensors    []checkpoints.Tensor // renamed and reshaped, plus the unmapped ones as they were
	Renamed    int
	Dropped    []string // "name (why)", sorted
	NotInFile  []string // map entries whose tensor the file lacks, sorted
	Reshaped   []string // "from → to shape", sorted
	BadReshape []string // reshape asked for but the element count differs
}

// String is the report's first lines, for logs.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mapped %d tensors", r.Renamed)
	if len(r.Reshaped) > 0 {
		fmt.Fprintf(&b, ", reshaped %s", strings.Join(r.Reshaped, ", "))
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(&b, "\ndropped (%d): %s", len(r.Dropped), strings.Join(r.Dropped, ", "))
	}
	if len(r.NotInFile) > 0 {
		fmt.Fprintf(&b, "\nnamed by the map but not in the file (%d): %s", len(r.NotInFile), strings.Join(r.NotInFile, ", "))
	}
	if len(r.BadReshape) > 0 {
		fmt.Fprintf(&b, "\ncannot reshape (%d): %s", len(r.BadReshape), strings.Join(r.BadReshape, ", "))
	}
	return b.String()
}

// Apply applies m (nil: names as they are) to a file's float tensors; ints names the
// file's integer tensors, which fcn has none of: they are dropped and reported.
// expected is the model's name → shape (train.ModelShapes).
func Apply(m *Map, ts []checkpoints.Tensor, ints []string, expected map[string][]int) (Result, error) {
	var r Result
	byFrom := map[string]*Entry{}
	mapName := "(none)"
	if m != nil {
		mapName = m.Name
		to := map[string]string{}
		for i := range m.Entries {
			e := &m.Entries[i]
			if _, dup := byFrom[e.From]; dup {
				return r, fmt.Errorf("init map %s: %q is mapped twice", m.Name, e.From)
			}
			if !e.Drop {
				if prev, dup := to[e.To]; dup {
					return r, fmt.Errorf("init map %s: %q and %q both map to %q", m.Name, prev, e.From, e.To)
				}
				to[e.To] = e.From
			}
			byFrom[e.From] = e
		}
	}
	seen := map[string]bool{}
	for _, name := range ints {
		seen[name] = true
		why := "an integer tensor; fcn has none"
		if e := byFrom[name]; e != nil && e.Drop && e.Why != "" {
			why = e.Why
		}
		r.Dropped = append(r.Dropped, name+" ("+why+")")
	}
	for _, t := range ts {
		seen[t.Name] = true
		e := byFrom[t.Name]
		switch {
		case e == nil:
			r.Tensors = append(r.Tensors, t)
		case e.Drop:
			r.Dropped = append(r.Dropped, t.Name+" ("+e.Why+")")
		default:
			c := t
			c.Name = e.To
			want := e.Reshape
			if e.ToModel {
				want = expected[e.To]
			}
			if want != nil && !slices.Equal(want, t.Shape) {
				if n, ok := elements(want); ok && n == t.Len() {
					c.Shape = append([]int{}, want...)
					r.Reshaped = append(r.Reshaped, fmt.Sprintf("%s %v → %s %v", t.Name, t.Shape, e.To, want))
				} else {
					r.BadReshape = append(r.BadReshape, fmt.Sprintf("%s %v (%d values) → %s %v", t.Name, t.Shape, t.Len(), e.To, want))
				}
			}
			r.Tensors = append(r.Tensors, c)
			r.Renamed++
		}
	}
	if m != nil {
		for _, e := range m.Entries {
			if !seen[e.From] && !e.Drop {
				r.NotInFile = append(r.NotInFile, e.From)
			}
		}
	}
	sort.Strings(r.Dropped)
	sort.Strings(r.NotInFile)
	sort.Strings(r.Reshaped)
	sort.Strings(r.BadReshape)
	if m != nil && r.Renamed == 0 && len(ts) > 0 {
		return r, fmt.Errorf("init map %s: none of its names is in the file (the file's names start %s)", mapName, strings.Join(firstNames(ts, 4), ", "))
	}
	return r, nil
}

func firstNames(ts []checkpoints.Tensor, n int) []string {
	var out []string
	for i := 0; i < len(ts) && i < n; i++ {
		out = append(out, ts[i].Name)
	}
	return out
}

func elements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || d > 0 && n > (1<<40)/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// vgg16Convs are VGG16's (cfg "D") convolutions in order, by fcn's (and Caffe's) names.
var vgg16Convs = []string{"conv1_1", "conv1_2", "M", "conv2_1", "conv2_2", "M", "conv3_1", "conv3_2", "conv3_3", "M",
	"conv4_1", "conv4_2", "conv4_3", "M", "conv5_1", "conv5_2", "conv5_3", "M"}

const fc8Why = "fc8, the ImageNet classifier; the score layers keep their initialisation"

// torchvisionVGG16 is torchvision's vgg16 (bn false) or vgg16_bn: features.N indices
// follow torchvision's make_layers (conv, [bn,] relu per conv; one index per pool);
// batch norms go to fcn layers bn<stage>_<i> (as configs/default.yaml names them).
func torchvisionVGG16(bn bool) Map {
	m := Map{Name: "torchvision-vgg16"}
	if bn {
		m.Name += "-bn"
	}
	i := 0
	for _, c := range vgg16Convs {
		if c == "M" {
			i++
			continue
		}
		for _, p := range []string{"weight", "bias"} {
			m.Entries = append(m.Entries, Entry{From: fmt.Sprintf("features.%d.%s", i, p), To: c + "." + p})
		}
		i++
		if bn {
			b := "bn" + strings.TrimPrefix(c, "conv")
			for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
				m.Entries = append(m.Entries, Entry{From: fmt.Sprintf("features.%d.%s", i, p), To: b + "." + p})
			}
			m.Entries = append(m.Entries, Entry{From: fmt.Sprintf("features.%d.num_batches_tracked", i), Drop: true,
				Why: "batch norm's step count; fcn's batchnorm uses a fixed momentum"})
			i++
		}
		i++ // relu
	}
	for _, fc := range []struct{ from, to string }{{"classifier.0", "fc6"}, {"classifier.3", "fc7"}} {
		m.Entries = append(m.Entries,
			Entry{From: fc.from + ".weight", To: fc.to + ".weight", ToModel: true},
			Entry{From: fc.from + ".bias", To: fc.to + ".bias"})
	}
	m.Entries = append(m.Entries,
		Entry{From: "classifier.6.weight", Drop: true, Why: fc8Why},
		Entry{From: "classifier.6.bias", Drop: true, Why: fc8Why})
	return m
}

// caffeVGG16 is the VGG16 caffemodel (VGG_ILSVRC_16_layers): the same names as fcn's,
// fc6 and fc7 InnerProduct (2-D weights) reshaped to convolutions, fc8 dropped.
func caffeVGG16() Map {
	m := Map{Name: "caffe-vgg16"}
	for _, c := range append(append([]string{}, vgg16Convs...), "fc6", "fc7") {
		if c == "M" {
			continue
		}
		fc := strings.HasPrefix(c, "fc")
		m.Entries = append(m.Entries,
			Entry{From: c + ".weight", To: c + ".weight", ToModel: fc},
			Entry{From: c + ".bias", To: c + ".bias"})
	}
	m.Entries = append(m.Entries,
		Entry{From: "fc8.weight", Drop: true, Why: fc8Why},
		Entry{From: "fc8.bias", Drop: true, Why: fc8Why})
	return m
}

// Builtins are the maps --init-map knows by name.
func Builtins() map[string]Map {
	return map[string]Map{
		"torchvision-vgg16":    torchvisionVGG16(false),
		"torchvision-vgg16-bn": torchvisionVGG16(true),
		"caffe-vgg16":          caffeVGG16(),
	}
}

// Names lists the built-in maps, sorted.
func Names() []string {
	var out []string
	for n := range Builtins() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// userEntry is one item of a user's YAML map.
type userEntry struct {
	From    string `yaml:"from"`
	To      string `yaml:"to"`
	Reshape []int  `yaml:"reshape"`
	Drop    bool   `yaml:"drop"`
}

// Load returns the built-in map of that name, or reads a user map from the YAML file:
// a list of {from: NAME, to: NAME, reshape: [dims]} (or {from: NAME, drop: true}).
func Load(nameOrFile string) (*Map, error) {
	if m, ok := Builtins()[nameOrFile]; ok {
		return &m, nil
	}
	b, err := os.ReadFile(nameOrFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--init-map %s: neither a built-in map (%s) nor a file", nameOrFile, strings.Join(Names(), ", "))
		}
		return nil, fmt.Errorf("--init-map: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var items []userEntry
	if err := dec.Decode(&items); err != nil {
		return nil, fmt.Errorf("init map %s: want a YAML list of {from: NAME, to: NAME, reshape: [dims]}: %w", nameOrFile, err)
	}
	m := &Map{Name: nameOrFile}
	for i, it := range items {
		where := fmt.Sprintf("init map %s: item %d", nameOrFile, i+1)
		switch {
		case it.From == "":
			return nil, fmt.Errorf("%s: from is required", where)
		case it.Drop && (it.To != "" || it.Reshape != nil):
			return nil, fmt.Errorf("%s (%s): drop excludes to and reshape", where, it.From)
		case !it.Drop && it.To == "":
			return nil, fmt.Errorf("%s (%s): to is required (or drop: true)", where, it.From)
		}
		for _, d := range it.Reshape {
			if d <= 0 {
				return nil, fmt.Errorf("%s (%s): reshape %v: dimensions must be positive", where, it.From, it.Reshape)
			}
		}
		m.Entries = append(m.Entries, Entry{From: it.From, To: it.To, Reshape: it.Reshape, Drop: it.Drop, Why: "dropped by the map"})
	}
	if len(m.Entries) == 0 {
		return nil, fmt.Errorf("init map %s: no entries", nameOrFile)
	}
	return m, nil
}

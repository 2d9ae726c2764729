package checkpoints

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Mode says how MatchWeights treats tensors that do not line up with the model.
type Mode int

const (
	// Strict refuses any missing, unexpected or shape-mismatched tensor (the default
	// for --init-from).
	Strict Mode = iota
	// Partial loads what matches and reports the rest (--init-from-partial): FCN's net
	// surgery, e.g. a backbone into a model with a new classifier. It still refuses a
	// file of which nothing matches, which is a wrong file rather than a partial one.
	Partial
)

// ShapeMismatch is a tensor whose name matches but whose shape does not.
type ShapeMismatch struct {
	Name  string
	Got   []int // in the file
	Want  []int // in the model
	Dtype Dtype
}

// Report says what MatchWeights matched. All lists are sorted by name.
type Report struct {
	Loaded        []Tensor // matched by name and shape, as float32, ready to copy into the model
	Converted     []string // names among Loaded stored as F64 in the file, rounded to float32
	Missing       []string // the model has them, the file does not
	Unexpected    []string // the file has them, the model does not
	ShapeMismatch []ShapeMismatch
}

// String summarises the report in a few lines, for logs.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loaded %d tensors", len(r.Loaded))
	if len(r.Converted) > 0 {
		fmt.Fprintf(&b, " (%d converted from F64 to F32: %s)", len(r.Converted), strings.Join(r.Converted, ", "))
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(&b, "\nmissing from the file (%d): %s", len(r.Missing), strings.Join(r.Missing, ", "))
	}
	if len(r.Unexpected) > 0 {
		fmt.Fprintf(&b, "\nunexpected, not in the model (%d): %s", len(r.Unexpected), strings.Join(r.Unexpected, ", "))
	}
	if len(r.ShapeMismatch) > 0 {
		fmt.Fprintf(&b, "\nshape mismatch (%d):", len(r.ShapeMismatch))
		for _, m := range r.ShapeMismatch {
			fmt.Fprintf(&b, " %s (file %s, model %s)", m.Name, formatShape(m.Got), formatShape(m.Want))
		}
	}
	return b.String()
}

// MatchWeights matches loaded tensors to the model's expected tensors (name → shape, in
// PyTorch's layout) by name, as PyTorch's load_state_dict does: F64 tensors are rounded
// to float32, and every loaded tensor is copied, so changing the report's tensors cannot
// alter loaded. The report is complete whatever the error, so it can be printed; the
// error says, under mode, why the weights must not be used.
func MatchWeights(loaded []Tensor, expected map[string][]int, mode Mode) (Report, error) {
	var r Report
	seen := make(map[string]bool, len(loaded))
	for _, t := range loaded {
		if seen[t.Name] {
			return r, fmt.Errorf("init weights: tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if n, err := numElements(t.Shape); err != nil || n != t.Len() {
			return r, fmt.Errorf("init weights: tensor %q: shape %s does not fit its %d values", t.Name, formatShape(t.Shape), t.Len())
		}
		want, ok := expected[t.Name]
		switch {
		case !ok:
			r.Unexpected = append(r.Unexpected, t.Name)
		case !equalShape(want, t.Shape):
			r.ShapeMismatch = append(r.ShapeMismatch, ShapeMismatch{Name: t.Name, Got: t.Shape, Want: want, Dtype: t.Dtype()})
		case IsCounter(t.Name):
			c := Tensor{Name: t.Name, Shape: append([]int{}, t.Shape...), Int64: make([]int64, t.Len())}
			switch {
			case t.Int64 != nil:
				copy(c.Int64, t.Int64)
			case t.Data64 != nil:
				for i, v := range t.Data64 {
					c.Int64[i] = int64(v)
				}
				r.Converted = append(r.Converted, t.Name)
			default:
				for i, v := range t.Data {
					c.Int64[i] = int64(v)
				}
				r.Converted = append(r.Converted, t.Name)
			}
			r.Loaded = append(r.Loaded, c)
		case t.Int64 != nil:
			r.ShapeMismatch = append(r.ShapeMismatch, ShapeMismatch{Name: t.Name, Got: t.Shape, Want: want, Dtype: t.Dtype()})
		default:
			c := Tensor{Name: t.Name, Shape: append([]int{}, t.Shape...), Data: make([]float32, t.Len())}
			if t.Data64 != nil {
				for i, v := range t.Data64 {
					c.Data[i] = float32(v)
				}
				r.Converted = append(r.Converted, t.Name)
			} else {
				copy(c.Data, t.Data)
			}
			r.Loaded = append(r.Loaded, c)
		}
	}
	for name := range expected {
		if !seen[name] && !IsCounter(name) { // a missing counter starts at 0
			r.Missing = append(r.Missing, name)
		}
	}
	sort.Slice(r.Loaded, func(i, j int) bool { return r.Loaded[i].Name < r.Loaded[j].Name })
	sort.Strings(r.Converted)
	sort.Strings(r.Missing)
	sort.Strings(r.Unexpected)
	sort.Slice(r.ShapeMismatch, func(i, j int) bool { return r.ShapeMismatch[i].Name < r.ShapeMismatch[j].Name })

	switch mode {
	case Strict:
		if len(r.Missing)+len(r.Unexpected)+len(r.ShapeMismatch) > 0 {
			return r, fmt.Errorf("init weights do not match the model (strict: --init-from-partial loads what matches and keeps the rest of the random initialisation):\n%s", r)
		}
	case Partial:
		if len(r.Loaded) == 0 && len(expected) > 0 {
			return r, fmt.Errorf("init weights: no tensor matches the model by name and shape:\n%s", r)
		}
	default:
		return r, fmt.Errorf("init weights: unknown mode %d", mode)
	}
	return r, nil
}

// LoadWeights reads tensors to initialise a model from (--init-from). path may be
//   - a .safetensors file (F32 or F64 tensors; any names),
//   - a checkpoint folder (step-NNNNNNN, holding state.json): its model.safetensors,
//   - a run folder (holding checkpoints/) or its checkpoints/ folder: the latest checkpoint.
//
// Checkpoints are verified by Load; a damaged one is refused rather than replaced by an
// older one, since the user named it. It returns the tensors and the file or folder read.
func LoadWeights(path string) ([]Tensor, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("init weights: %w", err)
	}
	if !fi.IsDir() {
		f, err := ReadSafetensors(path)
		if err != nil {
			return nil, "", fmt.Errorf("init weights: %w", err)
		}
		return f.Tensors, path, nil
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	runDir := path
	switch {
	case exists(filepath.Join(path, StateFile)):
		ck, err := Load(path)
		if err != nil {
			return nil, "", fmt.Errorf("init weights: %w", err)
		}
		return ck.Model, filepath.Join(path, ModelFile), nil
	case exists(filepath.Join(path, DirName)):
	case filepath.Base(filepath.Clean(path)) == DirName:
		runDir = filepath.Dir(filepath.Clean(path))
	default:
		return nil, "", fmt.Errorf("init weights: %s is neither a .safetensors file, a checkpoint folder (with %s) nor a run folder (with %s/)", path, StateFile, DirName)
	}
	latest, err := Latest(runDir)
	if err != nil {
		return nil, "", fmt.Errorf("init weights: %w", err)
	}
	ck, err := Load(latest)
	if err != nil {
		return nil, "", fmt.Errorf("init weights: latest checkpoint of %s: %w", runDir, err)
	}
	return ck.Model, filepath.Join(latest, ModelFile), nil
}

// Validate checks a loaded checkpoint against the model that will resume from it:
// expected maps every tensor of the model (parameters and buffers) to its shape in
// PyTorch's layout. Model tensors must match exactly (none missing, none unexpected,
// same shapes, F32); every momentum buffer must belong to an expected tensor of its
// shape. Which parameters have momentum is the trainer's affair. The error lists every
// problem, each with the file it is in.
func Validate(ck *Checkpoint, expected map[string][]int) error {
	if ck == nil {
		return errors.New("validate checkpoint: nil checkpoint")
	}
	modelFile, optFile := ModelFile, OptimizerFile
	if ck.Dir != "" {
		modelFile, optFile = filepath.Join(ck.Dir, ModelFile), filepath.Join(ck.Dir, OptimizerFile)
	}
	var problems []string
	add := func(file, format string, args ...any) {
		problems = append(problems, file+": "+fmt.Sprintf(format, args...))
	}
	check := func(file string, t Tensor, want []int) {
		wantDtype := F32
		if file == modelFile && IsCounter(t.Name) {
			wantDtype = I64
		}
		if t.Dtype() != wantDtype {
			add(file, "tensor %s is %s, the model wants %s", t.Name, t.Dtype(), wantDtype)
		}
		if !equalShape(t.Shape, want) {
			add(file, "tensor %s has shape %s, the model wants %s", t.Name, formatShape(t.Shape), formatShape(want))
		} else if n, _ := numElements(want); t.Len() != n {
			add(file, "tensor %s holds %d values, its shape %s needs %d", t.Name, t.Len(), formatShape(want), n)
		}
	}
	have := make(map[string]bool, len(ck.Model))
	for _, t := range ck.Model {
		if have[t.Name] {
			add(modelFile, "tensor %s appears twice", t.Name)
		}
		have[t.Name] = true
		want, ok := expected[t.Name]
		if !ok {
			add(modelFile, "unexpected tensor %s %s: the model has no such parameter or buffer", t.Name, formatShape(t.Shape))
			continue
		}
		check(modelFile, t, want)
	}
	var missing []string
	for name := range expected {
		if !have[name] && !IsCounter(name) {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		add(modelFile, "missing tensor %s (the model wants shape %s)", name, formatShape(expected[name]))
	}
	for _, t := range ck.Optimizer {
		want, ok := OptimizerShape(t.Name, t.Shape, expected)
		if !ok {
			add(optFile, "momentum for %s, which the model does not have", t.Name)
			continue
		}
		check(optFile, t, want)
	}
	if len(problems) > 0 {
		return fmt.Errorf("checkpoint does not match the model (%d problems):\n\t%s", len(problems), strings.Join(problems, "\n\t"))
	}
	return nil
}

// FromMap builds tensors from values by name (e.g. the optimiser's momentum buffers) and
// the model's shapes, sorted by name. The data slices are shared, not copied. Every name
// must have a shape that fits its values.
func FromMap(values map[string][]float32, shapes map[string][]int) ([]Tensor, error) {
	ts := make([]Tensor, 0, len(values))
	for name, v := range values {
		s, ok := shapes[name]
		if !ok {
			return nil, fmt.Errorf("tensor %q: no shape for it", name)
		}
		if n, err := numElements(s); err != nil || n != len(v) {
			return nil, fmt.Errorf("tensor %q: shape %s does not fit its %d values", name, formatShape(s), len(v))
		}
		ts = append(ts, Tensor{Name: name, Shape: s, Data: v})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts, nil
}

// ToMap returns the tensors' float32 values by name (shared, not copied), e.g. to restore
// the optimiser's momentum buffers. F64 tensors are left out: a checkpoint has none.
func ToMap(ts []Tensor) map[string][]float32 {
	m := make(map[string][]float32, len(ts))
	for _, t := range ts {
		if t.Data64 == nil {
			m[t.Name] = t.Data
		}
	}
	return m
}

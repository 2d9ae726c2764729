package checkpoints

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadWeightsFromEachKindOfPath(t *testing.T) {
	run := t.TempDir()
	for _, s := range []int{1, 2} {
		if _, err := Save(run, sample(s, 0), Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	want1, want2 := sortedByName(sample(1, 0).Model), sortedByName(sample(2, 0).Model)
	ckDir := filepath.Join(run, DirName)
	file := filepath.Join(t.TempDir(), "foreign.safetensors")
	if err := WriteSafetensors(file, []Tensor{
		{Name: "conv1.weight", Shape: []int{1}, Data64: []float64{0.1}},
		{Name: "head.bias", Shape: []int{2}, Data: []float32{1, 2}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, src string
		want      []Tensor
	}{
		{filepath.Join(ckDir, "step-0000001"), filepath.Join(ckDir, "step-0000001", ModelFile), want1},
		{run, filepath.Join(ckDir, "step-0000002", ModelFile), want2},
		{ckDir, filepath.Join(ckDir, "step-0000002", ModelFile), want2},
		{filepath.Join(ckDir, "step-0000001", ModelFile), filepath.Join(ckDir, "step-0000001", ModelFile), want1},
	}
	for _, c := range cases {
		ts, src, err := LoadWeights(c.path)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if src != c.src || !sameBits(ts, c.want) {
			t.Errorf("%s: read %s, %d tensors; want %s", c.path, src, len(ts), c.src)
		}
	}
	ts, _, err := LoadWeights(file)
	if err != nil || len(ts) != 2 || ts[0].Dtype() != F64 || ts[1].Data[1] != 2 {
		t.Errorf("foreign file: %+v, %v", ts, err)
	}

	// Refusals: nothing there, a folder that is none of the kinds, a damaged checkpoint.
	empty := t.TempDir()
	editFile(t, filepath.Join(ckDir, "step-0000002", OptimizerFile), func(b []byte) []byte { return b[:40] })
	for _, c := range []struct{ path, want string }{
		{filepath.Join(empty, "nope"), "no such file"},
		{empty, "neither a .safetensors file, a checkpoint folder"},
		{run, "step-0000002/optimizer.safetensors: truncated"},
		{filepath.Join(ckDir, "step-0000002"), "step-0000002/optimizer.safetensors: truncated"},
	} {
		ts, _, err := LoadWeights(c.path)
		if err == nil || ts != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.path, err, c.want)
		}
	}
}

func TestMatchWeights(t *testing.T) {
	expected := map[string][]int{"conv1.weight": {2, 1}, "conv1.bias": {2}, "score.weight": {3, 2}, "score.bias": {3}}
	full := []Tensor{
		{Name: "conv1.weight", Shape: []int{2, 1}, Data: []float32{1, 2}},
		{Name: "conv1.bias", Shape: []int{2}, Data64: []float64{0.1, -1e-50}},
		{Name: "score.weight", Shape: []int{3, 2}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "score.bias", Shape: []int{3}, Data: []float32{7, 8, 9}},
	}
	r, err := MatchWeights(full, expected, Strict)
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorNames(r.Loaded); !reflect.DeepEqual(got, []string{"conv1.bias", "conv1.weight", "score.bias", "score.weight"}) {
		t.Errorf("loaded %v", got)
	}
	if !reflect.DeepEqual(r.Converted, []string{"conv1.bias"}) || r.Loaded[0].Data64 != nil ||
		r.Loaded[0].Data[0] != float32(0.1) || math.Float32bits(r.Loaded[0].Data[1]) != 0x80000000 {
		t.Errorf("F64 conversion: %v %+v", r.Converted, r.Loaded[0])
	}
	full[0].Data[0] = 99
	if r.Loaded[1].Data[0] != 1 {
		t.Error("the report shares data with the loaded tensors")
	}

	// A 21-class model's weights into a 3-class one with a new layer: FCN's net surgery.
	other := []Tensor{
		{Name: "conv1.weight", Shape: []int{2, 1}, Data: []float32{1, 2}},
		{Name: "score.weight", Shape: []int{21, 2}, Data: make([]float32, 42)},
		{Name: "fc8.weight", Shape: []int{1}, Data: []float32{0}},
	}
	r, err = MatchWeights(other, expected, Strict)
	if err == nil {
		t.Fatal("strict mode accepted gaps")
	}
	for _, s := range []string{"strict", "missing from the file (2): conv1.bias, score.bias", "unexpected, not in the model (1): fc8.weight", "score.weight (file [21 2], model [3 2])"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("strict error %q does not say %q", err, s)
		}
	}
	wantReport := func(r Report) {
		t.Helper()
		if got := tensorNames(r.Loaded); !reflect.DeepEqual(got, []string{"conv1.weight"}) ||
			!reflect.DeepEqual(r.Missing, []string{"conv1.bias", "score.bias"}) ||
			!reflect.DeepEqual(r.Unexpected, []string{"fc8.weight"}) ||
			len(r.ShapeMismatch) != 1 || r.ShapeMismatch[0].Name != "score.weight" ||
			!equalShape(r.ShapeMismatch[0].Got, []int{21, 2}) || !equalShape(r.ShapeMismatch[0].Want, []int{3, 2}) {
			t.Errorf("report %+v", r)
		}
	}
	wantReport(r)
	r, err = MatchWeights(other, expected, Partial)
	if err != nil {
		t.Errorf("partial: %v", err)
	}
	wantReport(r)

	// Partial mode still refuses a file of which nothing matches.
	if _, err := MatchWeights(other[2:], expected, Partial); err == nil || !strings.Contains(err.Error(), "no tensor matches") {
		t.Errorf("nothing matching: %v", err)
	}
	bad := []struct {
		ts   []Tensor
		want string
	}{
		{[]Tensor{full[3], full[3]}, `"score.bias" appears twice`},
		{[]Tensor{{Name: "score.bias", Shape: []int{3}, Data: []float32{1}}}, "does not fit its 1 values"},
	}
	for _, b := range bad {
		if _, err := MatchWeights(b.ts, expected, Partial); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v, want %q", err, b.want)
		}
	}
	if _, err := MatchWeights(full, expected, Mode(7)); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestValidate(t *testing.T) {
	run := t.TempDir()
	p, err := Save(run, sample(3, 0), Retention{})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(ck, modelShapes); err != nil {
		t.Fatalf("a matching checkpoint: %v", err)
	}
	model := filepath.Join(p, ModelFile)
	opt := filepath.Join(p, OptimizerFile)
	changed := func(edit func(map[string][]int)) map[string][]int {
		m := map[string][]int{}
		for k, v := range modelShapes {
			m[k] = v
		}
		edit(m)
		return m
	}
	cases := []struct {
		name     string
		expected map[string][]int
		edit     func(*Checkpoint)
		want     []string
	}{
		{"missing tensor", changed(func(m map[string][]int) { m["bn1.running_var"] = []int{2} }), nil,
			[]string{model + ": missing tensor bn1.running_var (the model wants shape [2])"}},
		{"unexpected tensor", changed(func(m map[string][]int) { delete(m, "bn1.running_mean") }), nil,
			[]string{model + ": unexpected tensor bn1.running_mean [2]"}},
		{"shape mismatch", changed(func(m map[string][]int) { m["upscore2.weight"] = []int{5, 5, 4, 4} }), nil,
			[]string{model + ": tensor upscore2.weight has shape [2 2 4 4], the model wants [5 5 4 4]",
				opt + ": tensor upscore2.weight has shape [2 2 4 4], the model wants [5 5 4 4]"}},
		{"momentum of an unknown parameter", changed(func(m map[string][]int) {}), func(c *Checkpoint) {
			c.Optimizer = append(c.Optimizer, Tensor{Name: "fc9.bias", Shape: []int{1}, Data: []float32{0}})
		}, []string{opt + ": momentum for fc9.bias, which the model does not have"}},
		{"wrong dtype", changed(func(m map[string][]int) {}), func(c *Checkpoint) {
			c.Model[1].Data, c.Model[1].Data64 = nil, []float64{1, 2}
		}, []string{model + ": tensor conv1.bias is F64, the model wants F32"}},
		{"data length", changed(func(m map[string][]int) {}), func(c *Checkpoint) {
			c.Model[1].Data = c.Model[1].Data[:1]
		}, []string{model + ": tensor conv1.bias holds 1 values, its shape [2] needs 2"}},
	}
	for _, c := range cases {
		ck, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if c.edit != nil {
			c.edit(ck)
		}
		err = Validate(ck, c.expected)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
	if err := Validate(nil, modelShapes); err == nil {
		t.Error("nil checkpoint accepted")
	}
}

func TestFromMapToMap(t *testing.T) {
	shapes := map[string][]int{"a.weight": {2, 2}, "a.bias": {2}}
	values := map[string][]float32{"a.weight": {1, 2, 3, 4}, "a.bias": {5, 6}}
	ts, err := FromMap(values, shapes)
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{ts[0].Name, ts[1].Name}; !reflect.DeepEqual(got, []string{"a.bias", "a.weight"}) || !equalShape(ts[1].Shape, []int{2, 2}) {
		t.Errorf("FromMap = %+v", ts)
	}
	if back := ToMap(ts); !reflect.DeepEqual(back, values) {
		t.Errorf("ToMap = %v", back)
	}
	for _, bad := range []map[string][]float32{{"a.bias": {1}}, {"b.bias": {1}}} {
		if _, err := FromMap(bad, shapes); err == nil {
			t.Errorf("FromMap accepted %v", bad)
		}
	}
}

// TestCheckpointCopiedUnderAnotherName: a checkpoint folder copied under
// another name still loads (its step is not checked against the name then).
func TestCheckpointCopiedUnderAnotherName(t *testing.T) {
	run := t.TempDir()
	p, err := Save(run, sample(4, 0), Retention{})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "best")
	if err := os.Rename(p, dst); err != nil {
		t.Fatal(err)
	}
	if ck, err := Load(dst); err != nil || ck.State.Step != 4 {
		t.Errorf("Load(%s) = %v", dst, err)
	}
}

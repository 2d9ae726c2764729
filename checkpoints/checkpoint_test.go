package checkpoints

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// modelShapes is a tiny FCN-like model: a conv with bias, a batchnorm buffer and a
// bias-free deconv, in PyTorch's layouts.
var modelShapes = map[string][]int{
	"conv1.weight":     {2, 3, 3, 3},
	"conv1.bias":       {2},
	"bn1.running_mean": {2},
	"upscore2.weight":  {2, 2, 4, 4},
}

// learned are the parameters that have momentum (the batchnorm buffer has none).
var learned = []string{"conv1.weight", "conv1.bias", "upscore2.weight"}

func randomTensor(rng *rand.Rand, name string, shape []int) Tensor {
	n, _ := numElements(shape)
	t := Tensor{Name: name, Shape: append([]int{}, shape...), Data: make([]float32, n)}
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// sample builds a checkpoint at step whose values depend on step, with every State field set.
func sample(step int, miou float64) *Checkpoint {
	rng := rand.New(rand.NewPCG(uint64(step), 7))
	ck := &Checkpoint{}
	names := make([]string, 0, len(modelShapes))
	for n := range modelShapes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ck.Model = append(ck.Model, randomTensor(rng, n, modelShapes[n]))
	}
	for _, n := range learned {
		ck.Optimizer = append(ck.Optimizer, randomTensor(rng, n, modelShapes[n]))
	}
	pcg := rand.NewPCG(uint64(step), 99)
	pcg.Uint64()
	rngState, err := pcg.MarshalBinary()
	if err != nil {
		panic(err)
	}
	ck.State = State{
		Step:             step,
		Epoch:            step / 10,
		Loader:           LoaderPosition{Epoch: step / 10, Index: step % 10},
		RNG:              map[string][]byte{"data": rngState, "dropout": {0, 1, 2, 255}},
		Schedule:         Schedule{Step: step, LR: 1e-4 * math.Pow(0.9, float64(step))},
		ExperimentDigest: "sha256:abc",
		Experiment:       map[string]string{"model.classes": "2", "optim.lr": "0.0001"},
		Metrics:          Metrics{"train_loss": 0.25 + float64(step), "val_miou": miou, "diverged": math.NaN(), "up": math.Inf(1)},
	}
	return ck
}

func stepDirs(t *testing.T, run string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(run, DirName))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func sameBits(a, b []Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !equalShape(a[i].Shape, b[i].Shape) || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j := range a[i].Data {
			if math.Float32bits(a[i].Data[j]) != math.Float32bits(b[i].Data[j]) {
				return false
			}
		}
	}
	return true
}

func sortedByName(ts []Tensor) []Tensor {
	out := append([]Tensor{}, ts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func TestSaveLoadRoundTrip(t *testing.T) {
	run := t.TempDir()
	ck := sample(42, 0.5)
	path, err := Save(run, ck, Retention{Keep: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(run, "checkpoints", "step-0000042"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	if got := stepDirs(t, run); !reflect.DeepEqual(got, []string{"latest", "step-0000042"}) {
		t.Errorf("checkpoints/ holds %v", got)
	}
	ents, _ := os.ReadDir(path)
	var files []string
	for _, e := range ents {
		files = append(files, e.Name())
	}
	if !reflect.DeepEqual(files, []string{"model.safetensors", "optimizer.safetensors", "state.json"}) {
		t.Errorf("checkpoint holds %v", files)
	}
	if b, _ := os.ReadFile(filepath.Join(run, "checkpoints", "latest")); string(b) != "step-0000042\n" {
		t.Errorf("latest holds %q", b)
	}
	if ck.State.Files != nil || ck.State.FormatVersion != 0 {
		t.Error("Save modified the caller's state")
	}

	// state.json read as plain JSON: the documented keys, and digests of the real bytes.
	raw, err := os.ReadFile(filepath.Join(path, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var js map[string]any
	if err := json.Unmarshal(raw, &js); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format_version", "step", "epoch", "loader", "rng", "schedule", "experiment_digest", "experiment", "metrics", "files"} {
		if _, ok := js[k]; !ok {
			t.Errorf("state.json has no %q", k)
		}
	}
	if js["format_version"] != 1.0 || js["step"] != 42.0 {
		t.Errorf("format_version %v step %v", js["format_version"], js["step"])
	}
	if m := js["metrics"].(map[string]any); m["diverged"] != "NaN" || m["up"] != "+Inf" || m["val_miou"] != 0.5 {
		t.Errorf("metrics in JSON: %v", m)
	}
	files0 := js["files"].(map[string]any)
	for _, f := range []string{"model.safetensors", "optimizer.safetensors"} {
		b, err := os.ReadFile(filepath.Join(path, f))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		d := files0[f].(map[string]any)
		if d["sha256"] != hex.EncodeToString(sum[:]) || d["size"] != float64(len(b)) {
			t.Errorf("%s: state.json records %v, file is %d bytes with sha256 %x", f, d, len(b), sum)
		}
	}
	if got := files0["model.safetensors"].(map[string]any)["tensors"]; len(got.([]any)) != len(modelShapes) {
		t.Errorf("model tensors listed: %v", got)
	}

	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir != path {
		t.Errorf("Dir = %q", got.Dir)
	}
	if !sameBits(got.Model, sortedByName(ck.Model)) || !sameBits(got.Optimizer, sortedByName(ck.Optimizer)) {
		t.Error("tensors differ after the round trip")
	}
	st := got.State
	if st.FormatVersion != 1 || st.Step != 42 || st.Epoch != 4 || st.Loader != (LoaderPosition{4, 2}) ||
		st.Schedule != ck.State.Schedule || st.ExperimentDigest != "sha256:abc" ||
		!reflect.DeepEqual(st.Experiment, ck.State.Experiment) || !reflect.DeepEqual(st.RNG, ck.State.RNG) {
		t.Errorf("state after the round trip: %+v", st)
	}
	if len(st.Metrics) != 4 || !math.IsNaN(st.Metrics["diverged"]) || !math.IsInf(st.Metrics["up"], 1) || st.Metrics["train_loss"] != 42.25 {
		t.Errorf("metrics %v", st.Metrics)
	}
	// The RNG state resumes the generator exactly.
	orig := rand.NewPCG(42, 99)
	orig.Uint64()
	var restored rand.PCG
	if err := restored.UnmarshalBinary(st.RNG["data"]); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if a, b := orig.Uint64(), restored.Uint64(); a != b {
			t.Fatalf("restored PCG draws %d, the original %d", b, a)
		}
	}
}

func TestSaveIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ck := sample(7, 0.3)
	pa, err := Save(a, ck, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	shuffled := *ck
	shuffled.Model = []Tensor{ck.Model[3], ck.Model[1], ck.Model[0], ck.Model[2]}
	shuffled.Optimizer = []Tensor{ck.Optimizer[2], ck.Optimizer[0], ck.Optimizer[1]}
	pb, err := Save(b, &shuffled, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ModelFile, OptimizerFile, StateFile} {
		x, _ := os.ReadFile(filepath.Join(pa, f))
		y, _ := os.ReadFile(filepath.Join(pb, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two saves of the same checkpoint", f)
		}
	}
}

func TestRetentionKeepsNewestAndBest(t *testing.T) {
	run := t.TempDir()
	r := Retention{Keep: 2, BestMetric: "val_miou"}
	mious := []float64{0.1, 0.5, 0.3, 0.2, math.NaN(), 0.5, 0.9}
	want := [][]string{
		{"step-0000001"},
		{"step-0000001", "step-0000002"},
		{"step-0000002", "step-0000003"},
		{"step-0000002", "step-0000003", "step-0000004"},
		{"step-0000002", "step-0000004", "step-0000005"},
		{"step-0000002", "step-0000005", "step-0000006"}, // a tie keeps the earlier best
		{"step-0000006", "step-0000007"},                 // a new best frees the old one
	}
	wantBest := []int{1, 2, 2, 2, 2, 2, 7}
	for i, m := range mious {
		step := i + 1
		p, err := Save(run, sample(step, m), r)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range stepDirs(t, run) {
			if strings.HasPrefix(n, "step-") {
				got = append(got, n)
			}
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("after step %d: %v, want %v", step, got, want[i])
		}
		ck, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if b := ck.State.Best; b == nil || b.Step != wantBest[i] || b.Metric != "val_miou" || b.Value != mious[wantBest[i]-1] {
			t.Errorf("after step %d: best %+v, want step %d", step, b, wantBest[i])
		}
	}
	// Keep 0 keeps everything; no best metric records no best.
	run2 := t.TempDir()
	for step := 1; step <= 4; step++ {
		p, err := Save(run2, sample(step, 0), Retention{})
		if err != nil {
			t.Fatal(err)
		}
		if ck, _ := Load(p); ck.State.Best != nil {
			t.Errorf("best recorded without a best metric: %+v", ck.State.Best)
		}
	}
	if got := stepDirs(t, run2); len(got) != 5 {
		t.Errorf("keep 0 left %v", got)
	}
}

func TestSaveSameStepReplaces(t *testing.T) {
	run := t.TempDir()
	if _, err := Save(run, sample(5, 0.1), Retention{}); err != nil {
		t.Fatal(err)
	}
	second := sample(5, 0.7)
	second.Model[0].Data[0] = 123
	p, err := Save(run, second, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if got := stepDirs(t, run); !reflect.DeepEqual(got, []string{"latest", "step-0000005"}) {
		t.Errorf("checkpoints/ holds %v", got)
	}
	ck, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Metrics["val_miou"] != 0.7 || !sameBits(ck.Model, sortedByName(second.Model)) {
		t.Error("the second save did not replace the first")
	}
}

func TestLatest(t *testing.T) {
	run := t.TempDir()
	if _, err := Latest(run); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("no checkpoints folder: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(run, DirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Latest(run); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("empty checkpoints folder: %v", err)
	}
	for _, s := range []int{3, 12, 8} {
		if _, err := Save(run, sample(s, 0), Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(run, DirName)
	// The pointer wins over the highest step: a run resumed from step 3 saved step 8.
	if p, err := Latest(run); err != nil || p != filepath.Join(dir, "step-0000008") {
		t.Errorf("Latest = %s, %v; want step-0000008 (the pointer)", p, err)
	}
	// A leftover temporary folder with a higher step is never chosen.
	if err := os.Mkdir(filepath.Join(dir, ".tmp-step-0000099-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pointer := range []string{"garbage", "step-0000077", "", "../step-0000003"} {
		if err := os.WriteFile(filepath.Join(dir, LatestFile), []byte(pointer), 0o644); err != nil {
			t.Fatal(err)
		}
		if p, err := Latest(run); err != nil || p != filepath.Join(dir, "step-0000012") {
			t.Errorf("pointer %q: Latest = %s, %v; want the highest step", pointer, p, err)
		}
	}
	os.Remove(filepath.Join(dir, LatestFile))
	if p, err := Latest(run); err != nil || p != filepath.Join(dir, "step-0000012") {
		t.Errorf("no pointer: Latest = %s, %v", p, err)
	}
}

func TestSaveRemovesLeftovers(t *testing.T) {
	run := t.TempDir()
	if _, err := Save(run, sample(1, 0), Retention{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(run, DirName)
	tmp := filepath.Join(dir, ".tmp-step-0000002-555")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, ModelFile), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(dir, ".tmp-latest-1"), []byte("step-0000002"), 0o644)
	if _, err := Save(run, sample(2, 0), Retention{}); err != nil {
		t.Fatal(err)
	}
	if got := stepDirs(t, run); !reflect.DeepEqual(got, []string{"latest", "step-0000001", "step-0000002"}) {
		t.Errorf("after a save, checkpoints/ holds %v", got)
	}
}

// TestResumeFromEarlierCheckpoint: a run resumed from step 100 while 200 and 300 exist
// follows the pointer, and retention leaves the abandoned later checkpoints alone.
func TestResumeFromEarlierCheckpoint(t *testing.T) {
	run := t.TempDir()
	for _, s := range []int{100, 200, 300} {
		if _, err := Save(run, sample(s, 0), Retention{Keep: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Save(run, sample(150, 0), Retention{Keep: 1}); err != nil {
		t.Fatal(err)
	}
	if got := stepDirs(t, run); !reflect.DeepEqual(got, []string{"latest", "step-0000150", "step-0000200", "step-0000300"}) {
		t.Errorf("checkpoints/ holds %v", got)
	}
	ck, p, warnings, err := LoadLatestIntact(run)
	if err != nil || ck.State.Step != 150 || filepath.Base(p) != "step-0000150" {
		t.Fatalf("LoadLatestIntact = step %v at %s, %v", ck, p, err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "step-0000300: newer than step-0000150") || !strings.Contains(warnings[1], "step-0000200") {
		t.Errorf("warnings %q", warnings)
	}
}

// Adam's state: two moments of the parameter's shape and a one-value step count per
// parameter, named "<parameter>.<state>", save, load and validate as momenta do.
func TestSaveLoadPerParameterState(t *testing.T) {
	ck := sample(3, 0.5)
	rng := rand.New(rand.NewPCG(3, 8))
	ck.Optimizer = nil
	for _, n := range learned {
		ck.Optimizer = append(ck.Optimizer, randomTensor(rng, n+".exp_avg", modelShapes[n]), randomTensor(rng, n+".exp_avg_sq", modelShapes[n]),
			Tensor{Name: n + ".step", Shape: []int{1}, Data: []float32{3}})
	}
	run := t.TempDir()
	dir, err := Save(run, ck, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(sortedByName(back.Optimizer), sortedByName(ck.Optimizer)) {
		t.Error("the optimiser state read back differs")
	}
	if err := Validate(back, modelShapes); err != nil {
		t.Errorf("Validate: %v", err)
	}
	back.Optimizer[0].Name = "fc9.weight.exp_avg"
	if err := Validate(back, modelShapes); err == nil || !strings.Contains(err.Error(), "fc9.weight.exp_avg") {
		t.Errorf("Validate of an orphan state tensor: %v", err)
	}
}

func TestSaveRefusesBadCheckpoints(t *testing.T) {
	bad := func(edit func(*Checkpoint)) *Checkpoint {
		ck := sample(1, 0)
		edit(ck)
		return ck
	}
	cases := []struct {
		name string
		ck   *Checkpoint
		r    Retention
		want string
	}{
		{"nil", nil, Retention{}, "nil checkpoint"},
		{"negative step", bad(func(c *Checkpoint) { c.State.Step = -1 }), Retention{}, "negative step"},
		{"negative keep", sample(1, 0), Retention{Keep: -1}, "negative retention"},
		{"f64 param", bad(func(c *Checkpoint) { c.Model[0].Data, c.Model[0].Data64 = nil, []float64{1, 2} }), Retention{}, "model.safetensors: tensor \"bn1.running_mean\" is F64"},
		{"short data", bad(func(c *Checkpoint) { c.Model[1].Data = c.Model[1].Data[:1] }), Retention{}, "holds 2 values but the data has 1"},
		{"duplicate", bad(func(c *Checkpoint) { c.Model[1].Name = c.Model[0].Name }), Retention{}, "appears twice"},
		{"orphan momentum", bad(func(c *Checkpoint) { c.Optimizer[0].Name = "fc9.weight" }), Retention{}, "optimizer.safetensors: tensor \"fc9.weight\" belongs to no tensor"},
		{"momentum shape", bad(func(c *Checkpoint) { c.Optimizer[1].Shape = []int{1, 2} }), Retention{}, "has shape [1 2] but its parameter has [2]"},
		{"orphan state", bad(func(c *Checkpoint) { c.Optimizer[0].Name = "fc9.weight.exp_avg" }), Retention{}, "tensor \"fc9.weight.exp_avg\" belongs to no tensor"},
		{"state shape", bad(func(c *Checkpoint) { c.Optimizer[1].Name, c.Optimizer[1].Shape = "conv1.bias.exp_avg", []int{1, 2} }), Retention{}, "tensor \"conv1.bias.exp_avg\" has shape [1 2] but its parameter has [2]"},
	}
	for _, c := range cases {
		run := t.TempDir()
		_, err := Save(run, c.ck, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(run, DirName)); err == nil {
			t.Errorf("%s: a checkpoints folder was created", c.name)
		}
	}
}

func TestDiffExperiment(t *testing.T) {
	saved := map[string]string{"model.classes": "21", "optim.lr": "0.01", "data.root": "a"}
	current := map[string]string{"model.classes": "5", "optim.lr": "0.01", "train.steps": "9"}
	if got := DiffExperiment(saved, current); !reflect.DeepEqual(got, []string{"data.root", "model.classes", "train.steps"}) {
		t.Errorf("DiffExperiment = %v", got)
	}
	if got := DiffExperiment(saved, saved); len(got) != 0 {
		t.Errorf("same experiment differs in %v", got)
	}
}

func TestStepName(t *testing.T) {
	for _, c := range []struct {
		step int
		name string
	}{{0, "step-0000000"}, {42, "step-0000042"}, {1234567, "step-1234567"}, {12345678, "step-12345678"}} {
		if got := StepName(c.step); got != c.name {
			t.Errorf("StepName(%d) = %s", c.step, got)
		}
		if s, ok := parseStepName(c.name); !ok || s != c.step {
			t.Errorf("parseStepName(%s) = %d, %v", c.name, s, ok)
		}
	}
	for _, bad := range []string{"step-42", "step-00000042", "step-000004x", "step--000001", "Step-0000001", "step-0000001 "} {
		if _, ok := parseStepName(bad); ok {
			t.Errorf("parseStepName accepted %q", bad)
		}
	}
}

// WriteFileAtomic replaces a file whole, readable by others (0644, not CreateTemp's
// 0600), and leaves the old one and no temporary file when fill fails.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "study.json")
	write := func(s string, fail error) error {
		return WriteFileAtomic(path, func(w io.Writer) error {
			io.WriteString(w, s)
			return fail
		})
	}
	if err := write("one", nil); err != nil {
		t.Fatal(err)
	}
	if err := write("two, cut short", errors.New("disk full")); err == nil || !strings.Contains(err.Error(), "study.json") {
		t.Errorf("failed fill: %v", err)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	entries, _ := os.ReadDir(dir)
	if string(b) != "one" || fi.Mode().Perm() != 0o644 || len(entries) != 1 {
		t.Errorf("content %q, mode %v, %d entries in the folder", b, fi.Mode().Perm(), len(entries))
	}
}

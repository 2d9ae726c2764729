package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"gorgonia.org/tensor"
)

// TestNonFiniteWeightsRefused: NaN or Inf in a model file, a checkpoint (weights or
// momenta) or an --init-from file is refused with the tensor named, for evaluation,
// prediction, resume and fine-tuning alike.
func TestNonFiniteWeightsRefused(t *testing.T) {
	src := t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=2"), Options{OutDir: src})
	model, err := checkpoints.ReadSafetensors(filepath.Join(src, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	ts := model.Tensors
	k := 0
	for len(ts[k].Data) < 3 { // a float tensor of three values or more (not a counter)
		k++
	}
	victim := ts[k].Name
	ts[k].Data[2] = float32(math.Inf(-1))
	if err := checkpoints.WriteSafetensors(bad, ts, nil); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, names ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: non-finite weights accepted", what)
		}
		for _, n := range append(names, "non-finite") {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%s: error %q does not name %q", what, err, n)
			}
		}
	}
	exp := tinyExp(t)
	g, err := BuildModel(exp, 1, 16, 16, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadModelWeights(g, bad)
	check("eval/predict weights", err, victim, bad)
	_, err = Run(context.Background(), tinyExp(t, "train.steps=2"), Options{OutDir: t.TempDir(), InitFrom: bad})
	check("--init-from", err, victim, bad)

	// A checkpoint whose momenta went NaN: written properly (digests and all), so only
	// the values are wrong.
	ck, err := checkpoints.Load(filepath.Join(src, checkpoints.DirName, checkpoints.StepName(2)))
	if err != nil {
		t.Fatal(err)
	}
	ck.Optimizer[0].Data[0] = float32(math.NaN())
	dst := t.TempDir()
	if _, err := checkpoints.Save(dst, ck, checkpoints.Retention{}); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), tinyExp(t, "train.steps=4"), Options{OutDir: dst, Resume: ResumeLatest})
	check("resume", err, ck.Optimizer[0].Name, checkpoints.OptimizerFile)
}

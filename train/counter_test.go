package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"gorgonia.org/tensor"
)

// TestBatchesTracked: model.safetensors holds each batch norm's num_batches_tracked as
// an I64 scalar, as PyTorch's state_dict does, counting one per training forward (steps
// × iter_size; evaluation does not count); a file without it (an older checkpoint)
// still loads strictly, the count starting at 0.
func TestBatchesTracked(t *testing.T) {
	dir := t.TempDir()
	// tiny: 6 steps × iter_size 2 = 12 training forwards, evaluations at steps 3 and 6.
	run(t, context.Background(), tinyExp(t), Options{OutDir: dir})
	f, err := checkpoints.ReadSafetensors(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ts := range f.Tensors {
		if ts.Name != "bn2.num_batches_tracked" {
			if strings.HasSuffix(ts.Name, "num_batches_tracked") {
				t.Errorf("unexpected counter %s", ts.Name)
			}
			continue
		}
		found = true
		if ts.Dtype() != checkpoints.I64 || len(ts.Shape) != 0 || len(ts.Int64) != 1 || ts.Int64[0] != 12 {
			t.Errorf("bn2.num_batches_tracked: %s shape %v values %v, want an I64 scalar 12", ts.Dtype(), ts.Shape, ts.Int64)
		}
	}
	if !found {
		t.Fatal("no bn2.num_batches_tracked in model.safetensors")
	}

	// Without the counter: loads strictly, count 0; with it: the count is taken.
	exp := tinyExp(t)
	g, err := BuildModel(exp, 1, 16, 16, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	var floats []checkpoints.Tensor
	for _, ts := range f.Tensors {
		if ts.Int64 == nil {
			floats = append(floats, ts)
		}
	}
	old := filepath.Join(t.TempDir(), "old.safetensors")
	if err := checkpoints.WriteSafetensors(old, floats, nil); err != nil {
		t.Fatal(err)
	}
	bn := modelCounters(g)["bn2.num_batches_tracked"]
	bn.SetBatchesTracked(99)
	if _, err := LoadModelWeights(g, old); err != nil {
		t.Fatalf("a file without num_batches_tracked: %v", err)
	}
	if _, err := LoadModelWeights(g, filepath.Join(dir, ModelFile)); err != nil {
		t.Fatal(err)
	}
	if got := bn.BatchesTracked(); got != 12 {
		t.Errorf("loaded count %d, want 12", got)
	}
}

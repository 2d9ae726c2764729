package train

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// An unknown train.precision is refused when the experiment is read, naming the field.
func TestPrecisionUnknownValue(t *testing.T) {
	_, err := configs.Parse("tiny.yaml", "tiny", []byte(tinyYAML), []string{"train.precision=fp16"}, nil)
	if err == nil || !strings.Contains(err.Error(), "train.precision") || !strings.Contains(err.Error(), "fp16") {
		t.Fatalf("error %v, want one naming train.precision and fp16", err)
	}
	if exp := tinyExp(t); exp.Train.Precision != "fp32" {
		t.Errorf("default train.precision %q, want fp32", exp.Train.Precision)
	}
}

// bf16 on a CPU without AVX512_BF16 is an error naming train.precision and the missing
// feature (here from a stand-in for the CPU check), never a fall-back to fp32.
func TestPrecisionNeedsTheFeature(t *testing.T) {
	missing := func(p layers.Precision) error {
		if p == layers.BF16 {
			return errors.New("the CPU lacks AVX512_BF16 (VDPBF16PS)")
		}
		return nil
	}
	err := CheckPrecision(tinyExp(t, "train.precision=bf16"), missing)
	if err == nil || !strings.Contains(err.Error(), "train.precision") || !strings.Contains(err.Error(), "AVX512_BF16") {
		t.Fatalf("error %v, want one naming train.precision and AVX512_BF16", err)
	}
	if err := CheckPrecision(tinyExp(t), missing); err != nil {
		t.Errorf("fp32: %v", err)
	}
	exp := tinyExp(t, "train.precision=bf16")
	_, ns, err := modelNodes(exp, 1, 16, 16, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if err := setPrecision(exp, ns, missing); err == nil || !strings.Contains(err.Error(), "train.precision") {
		t.Errorf("setPrecision with the feature missing: %v", err)
	}
	if layers.BF16.Supported() != nil {
		// This machine is one without: a run must refuse before step 1.
		_, err := Run(context.Background(), exp, Options{OutDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "train.precision") {
			t.Errorf("bf16 run here: %v, want an error naming train.precision", err)
		}
	}
}

// A bf16 run trains (other weights than fp32's), bit for bit the same whatever
// GOMAXPROCS and the worker count.
func TestPrecisionBF16Run(t *testing.T) {
	if err := layers.BF16.Supported(); err != nil {
		t.Skip(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref []byte
	for _, c := range []struct {
		procs   int
		workers string
	}{{1, "1"}, {2, "3"}} {
		runtime.GOMAXPROCS(c.procs)
		dir := t.TempDir()
		run(t, context.Background(), tinyExp(t, "train.precision=bf16", "train.steps=3", "train.workers="+c.workers), Options{OutDir: dir})
		got := readFile(t, filepath.Join(dir, ModelFile))
		if ref == nil {
			ref = got
		} else if !bytes.Equal(ref, got) {
			t.Fatalf("bf16, GOMAXPROCS %d, workers %s: final weights differ from GOMAXPROCS 1", c.procs, c.workers)
		}
	}
	dir := t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=3"), Options{OutDir: dir})
	if bytes.Equal(ref, readFile(t, filepath.Join(dir, ModelFile))) {
		t.Error("bf16 gave fp32's weights: the products did not run in bf16")
	}
}

// A resume may not change train.precision (either way); a checkpoint written before the
// key existed counts as fp32.
func TestResumeRefusesPrecisionChange(t *testing.T) {
	dir := t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=2"), Options{OutDir: dir})
	_, err := Run(context.Background(), tinyExp(t, "train.steps=3", "train.precision=bf16"), Options{OutDir: dir, Resume: ResumeLatest})
	if err == nil || !strings.Contains(err.Error(), "train.precision: fp32 → bf16") {
		t.Fatalf("resume fp32 → bf16: error %v, want one naming train.precision and both values", err)
	}
	ck, _, _, err := checkpoints.LoadLatestIntact(dir)
	if err != nil {
		t.Fatal(err)
	}
	delete(ck.State.Experiment, precisionKey)
	if _, err := checkResumable(ck, tinyExp(t, "train.steps=3")); err != nil {
		t.Errorf("a checkpoint without train.precision, resumed in fp32: %v", err)
	}
	if _, err := checkResumable(ck, tinyExp(t, "train.steps=3", "train.precision=bf16")); err == nil || !strings.Contains(err.Error(), "train.precision") {
		t.Errorf("a checkpoint without train.precision, resumed in bf16: %v", err)
	}
}

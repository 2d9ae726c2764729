package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/interop/caffe"
)

const importCaffeUsage = `usage: fcn import caffe NET.prototxt [--weights NET.caffemodel] [--solver solver.prototxt] --out DIR

Imports a Caffe net as an fcn experiment: DIR/experiment.yaml (the model section from
the prototxt's layers, the loss from SoftmaxWithLoss, optimiser and schedule from the
solver) and, with --weights, DIR/model.safetensors, which --init-from takes. Notes on
what was mapped approximately or dropped are printed. DIR must not exist or be empty;
nothing is written when the import is refused.

  fcn import caffe voc-fcn8s/train.prototxt --solver voc-fcn8s/solver.prototxt --out fcn8s-caffe
  fcn train --config fcn8s-caffe/experiment.yaml --init-from fcn8s-caffe/model.safetensors

flags:
`

// runImportCaffe is `fcn import caffe`.
func runImportCaffe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn import caffe", importCaffeUsage, stderr)
	weights := fs.String("weights", "", "Caffe weights (.caffemodel) to write as DIR/model.safetensors")
	solver := fs.String("solver", "", "Caffe solver (.prototxt) for the optim, schedule and train sections")
	out := fs.String("out", "", "output folder (required; must not exist or be empty)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return errors.New("give the net's prototxt: fcn import caffe NET.prototxt --out DIR")
	case len(pos) > 1:
		return fmt.Errorf("unexpected argument %q", pos[1])
	case *out == "":
		return errors.New("--out DIR is required")
	}
	if err := checkEmptyOut(*out); err != nil {
		return err
	}
	res, err := caffe.ImportFiles(caffe.Files{Net: pos[0], Weights: *weights, Solver: *solver})
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	// Both files go into a fresh folder beside --out, renamed to --out at the end, so a
	// failed write leaves nothing behind.
	parent := filepath.Dir(filepath.Clean(*out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".fcn-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up a failed import
	if res.Weights != nil {
		p := filepath.Join(tmp, "model.safetensors")
		if err := checkpoints.WriteSafetensors(p, res.Weights, map[string]string{"source": *weights}); err != nil {
			return err
		}
	}
	if err := res.Experiment.WriteYAML(filepath.Join(tmp, "experiment.yaml")); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	// An empty --out (checked above) is removed first: os.Rename does not replace folders.
	if err := os.Remove(*out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	if res.Weights != nil {
		fmt.Fprintf(stdout, "wrote %s (%d tensors)\n", filepath.Join(*out, "model.safetensors"), len(res.Weights))
	}
	p := filepath.Join(*out, "experiment.yaml")
	fmt.Fprintf(stdout, "wrote %s (%d layers, %d classes)\n", p, len(res.Experiment.Model.Layers), res.Experiment.Model.Classes)
	return nil
}

// checkEmptyOut refuses an --out that exists and is not an empty folder.
func checkEmptyOut(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--out %s: exists and is not a folder", dir)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if len(es) > 0 {
		return fmt.Errorf("--out %s: exists and is not empty; give a new folder", dir)
	}
	return nil
}

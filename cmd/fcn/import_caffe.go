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
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	// Weights first: experiment.yaml is the folder's sign of a finished import.
	if res.Weights != nil {
		p := filepath.Join(*out, "model.safetensors")
		if err := checkpoints.WriteSafetensors(p, res.Weights, map[string]string{"source": *weights}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d tensors)\n", p, len(res.Weights))
	}
	p := filepath.Join(*out, "experiment.yaml")
	if err := res.Experiment.WriteYAML(p); err != nil {
		return err
	}
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

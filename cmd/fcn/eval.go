package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
)

const evalUsage = `usage: fcn eval --run DIR [--split val|train] [--set key=value]...
       fcn eval --checkpoint PATH [--config NAME|FILE] [--split val|train] [--set key=value]...

Evaluates a model on a split of its experiment's data and prints FCN's metrics (pixel
accuracy, mean accuracy, mean IoU, frequency-weighted IoU) and the IoU of every class.
--run takes a run folder (its model.safetensors, else its latest checkpoint, and its
config.yaml); --checkpoint a checkpoint folder or a safetensors file, with the experiment
from --config or from the run folder the checkpoint lies in.

flags:
`

// runEval is `fcn eval`.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn eval", evalUsage, stderr)
	runDir, ckpt := addWeightsFlags(fs)
	config, sets := addExperimentFlags(fs, "experiment (default: the run folder's config.yaml)")
	split := fs.String("split", "val", "split to evaluate: val or train")
	maxMem := addMaxMemoryFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	limit, err := maxMemory(*maxMem)
	if err != nil {
		return err
	}
	if *split != "val" && *split != "train" {
		return fmt.Errorf("--split: want val or train, got %q", *split)
	}
	weights, err := weightsSource(*runDir, *ckpt, false)
	if err != nil {
		return err
	}
	exp, err := experimentFor(weights, *config, *sets, false)
	if err != nil {
		return err
	}
	res, src, err := train.EvaluateWeights(ctx, exp, weights, *split, limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on split %q of %s: %d images, %d pixels scored\n\n",
		src, train.SplitName(exp, *split), exp.Name, res.Images, res.Metrics.Pixels)
	writeEvalTable(stdout, res)
	return nil
}

// experimentFor loads the experiment that goes with weights: config when given, else
// the config.yaml of the run folder holding weights. modelOnly accepts an experiment
// without its data (predict needs none).
func experimentFor(weights, config string, sets []string, modelOnly bool) (*configs.Experiment, error) {
	if config == "" {
		run := train.RunDirOf(weights)
		if run == "" {
			return nil, fmt.Errorf("%s is not inside a run folder (no %s next to it or above it): give --config", weights, train.ConfigFile)
		}
		config = filepath.Join(run, train.ConfigFile)
	}
	if _, err := os.Stat(weights); err != nil {
		return nil, err
	}
	if modelOnly {
		return configs.LoadModel(config, sets, os.Environ())
	}
	return configs.Load(config, sets, os.Environ())
}

// writeEvalTable prints the metrics and the per-class IoU and accuracy. A class absent
// from both the ground truth and the predictions has no IoU (n/a) and is left out of the
// means, as in FCN's score.py.
func writeEvalTable(w io.Writer, res train.EvalResult) {
	m := res.Metrics
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "n/a"
		}
		return fmt.Sprintf("%.4f", x)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "miou\t%s\n", f(m.MeanIoU))
	fmt.Fprintf(tw, "pixel_acc\t%s\n", f(m.PixelAcc))
	fmt.Fprintf(tw, "mean_acc\t%s\n", f(m.MeanAcc))
	fmt.Fprintf(tw, "fwiou\t%s\n", f(m.FWIoU))
	fmt.Fprintf(tw, "loss\t%s\n", f(res.Loss))
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "class\tname\tiou\tacc")
	for k, iou := range m.IoU {
		name := ""
		if k < len(res.Classes) {
			name = res.Classes[k]
		}
		acc := math.NaN()
		if k < len(m.ClassAcc) {
			acc = m.ClassAcc[k]
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", k, name, f(iou), f(acc))
	}
	tw.Flush()
}

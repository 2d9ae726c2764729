package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
)

const evalUsage = `usage: fcn eval --run DIR [--split NAME] [--slide CROPxSTRIDE] [--tta SPEC] [--set key=value]...
       fcn eval --checkpoint PATH [--config NAME|FILE] [--split NAME] [--slide CROPxSTRIDE] [--tta SPEC] [--set key=value]...

Evaluates a model on a split of its experiment's data and prints FCN's metrics (pixel
accuracy, mean accuracy, mean IoU, frequency-weighted IoU) and the IoU of every class.
--run takes a run folder (its model.safetensors, else its latest checkpoint, and its
config.yaml); --checkpoint a checkpoint folder or a safetensors file, with the experiment
from --config or from the run folder the checkpoint lies in.

--split val and --split train are the experiment's data.val_split and data.train_split;
any other NAME is a split of the dataset: VOC ImageSets/Segmentation/NAME.txt, a folder
layout's split folder, the synthetic set's train or val.
--slide runs each image in sliding windows (mmsegmentation's slide mode): 256x170 is
256×256 windows every 170 pixels, 256x512x170x340 is CROP_HxCROP_WxSTRIDE_HxSTRIDE_W;
the scores of overlapping windows are averaged. --tta "scales=0.5,0.75,1,1.25,flip" runs
each image at each scale (bilinear resize) and mirrored, and averages the softmax
probabilities; with --slide the windows slide at each scale.

flags:
`

// runEval is `fcn eval`.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn eval", evalUsage, stderr)
	runDir, ckpt := addWeightsFlags(fs)
	config, sets := addExperimentFlags(fs, "experiment (default: the run folder's config.yaml)")
	split := fs.String("split", "val", "split to evaluate: val or train (data.val_split, data.train_split), or any split the dataset has")
	slide, tta := addInferFlags(fs)
	maxMem := addMaxMemoryFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	limit, err := maxMemory(*maxMem)
	if err != nil {
		return err
	}
	opts, err := parseInferFlags(*slide, *tta)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*split) == "" {
		return fmt.Errorf("--split: want a split name such as val or train")
	}
	weights, err := weightsSource(*runDir, *ckpt, false)
	if err != nil {
		return err
	}
	exp, err := experimentFor(weights, *config, *sets, false)
	if err != nil {
		return err
	}
	if _, err := train.ResolveSplit(exp, *split); err != nil {
		return fmt.Errorf("--split: %w", err)
	}
	if err := checkInferOptions(exp, opts); err != nil {
		return err
	}
	res, src, err := train.EvaluateWeights(ctx, exp, weights, *split, limit, opts)
	if err != nil {
		return err
	}
	how := ""
	if opts.On() {
		how = ", " + opts.String()
	}
	fmt.Fprintf(stdout, "%s on split %q of %s%s: %d images, %d pixels scored\n\n",
		src, res.Split, exp.Name, how, res.Images, res.Metrics.Pixels)
	writeEvalTable(stdout, res)
	return nil
}

// addInferFlags adds --slide and --tta, the ways eval and predict can run an image.
func addInferFlags(fs *flag.FlagSet) (slide, tta *string) {
	slide = fs.String("slide", "", "sliding-window inference: CROPxSTRIDE (e.g. 256x170) or CROP_HxCROP_WxSTRIDE_HxSTRIDE_W; overlapping windows' scores are averaged (default: the whole image at once)")
	tta = fs.String("tta", "", `test-time augmentation: "scales=S1,S2,...,flip" (scales default 1, flip optional), softmax probabilities averaged (default: none)`)
	return slide, tta
}

// parseInferFlags reads --slide and --tta ("" is off).
func parseInferFlags(slide, tta string) (train.InferOptions, error) {
	var o train.InferOptions
	var err error
	if slide != "" {
		if o.Slide, err = train.ParseSlide(slide); err != nil {
			return o, err
		}
	}
	if tta != "" {
		if o.TTA, err = train.ParseTTA(tta); err != nil {
			return o, err
		}
	}
	return o, nil
}

// checkInferOptions refuses, before any image is read, a --slide window the model cannot
// run (below the smallest size it takes).
func checkInferOptions(exp *configs.Experiment, o train.InferOptions) error {
	if !o.Slide.On() {
		return nil
	}
	if _, _, err := train.FitSize(exp, o.Slide.CropH, o.Slide.CropW); err != nil {
		return fmt.Errorf("--slide %s: a %d×%d window: %w", o.Slide, o.Slide.CropH, o.Slide.CropW, err)
	}
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/fcn-dev/fcn/train"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/data"
)

const dataSynthUsage = `usage: fcn data synth --out DIR [--n N] [--n-val M] [--size S] [--seed K] [--classes C] [--force]

Writes the synthetic set in the PASCAL VOC layout.

flags:
`

const dataCheckUsage = `usage: fcn data check --config NAME|FILE [--set key=value]... [dataset flags]
       fcn data check --format voc|folder|synthetic --root DIR [--images DIR --masks DIR] [--classes N]

Validates a dataset: counts per split, image sizes, the class pixel histogram and every
problem found, each with its file; exits non-zero when there are problems.

With --config or --set the dataset is the data section of the experiment, loaded as fcn
train loads it (a shipped name or a YAML file, FCN_* variables, --set). The dataset flags
then stand for --set data.KEY=VALUE before the --set flags, and --classes, which
overrides the class count, applies last.

flags:
`

func runDataSynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn data synth", dataSynthUsage, stderr)
	def := data.DefaultSyntheticConfig()
	out := fs.String("out", "", "output folder (required)")
	n := fs.Int("n", def.NTrain, "number of train images")
	nVal := fs.Int("n-val", -1, "number of val images (default: n/4, at least 1)")
	size := fs.Int("size", def.Size, "image side in pixels")
	seed := fs.Uint64("seed", def.Seed, "random seed")
	classes := fs.Int("classes", def.Classes, "classes, background included")
	quality := fs.Int("quality", 95, "JPEG quality (1-100)")
	force := fs.Bool("force", false, "write into --out even if it is not empty (files of the same names are replaced)")
	maxMem := addMaxMemoryFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	limit, err := maxMemory(*maxMem)
	if err != nil {
		return err
	}
	// Each worker holds one scene: a float32 RGB image, its labels, and the encoders'
	// buffers (counted as much again).
	if *size > 1<<20 {
		return fmt.Errorf("--size %d: an image side of at most %d pixels", *size, 1<<20)
	}
	if *size > 0 {
		px := int64(*size) * int64(*size)
		// and the ids of both splits (a string each).
		scenes := int64(runtime.GOMAXPROCS(0)) * px * 2 * (3*4 + 4)
		ids := 48 * (int64(max(0, *n)) + int64(max(0, *nVal, *n/4)))
		detail := fmt.Sprintf("%s for the scenes being written, %s for the ids", train.FormatBytes(scenes), train.FormatBytes(ids))
		if err := train.CheckMemory(fmt.Sprintf("fcn data synth --n %d --size %d", *n, *size), scenes+ids+train.RuntimeOverhead, limit, detail, "lower --n or --size"); err != nil {
			return err
		}
	}
	if *out == "" {
		return errors.New("--out: required (the folder to write)")
	}
	if fi, err := os.Stat(*out); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("--out %s is a file, not a folder", *out)
		}
		if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 && !*force {
			return fmt.Errorf("--out %s is not empty (%d entries, e.g. %s): a synthetic set written into it would mix with what is there; choose an empty or new folder, or give --force",
				*out, len(ents), ents[0].Name())
		}
	}
	if *quality < 1 || *quality > 100 {
		return fmt.Errorf("--quality: must be in [1, 100], got %d", *quality)
	}
	cfg := def
	cfg.NTrain, cfg.Size, cfg.Seed, cfg.Classes = *n, *size, *seed, *classes
	cfg.NVal = *nVal
	if cfg.NVal < 0 {
		cfg.NVal = max(1, cfg.NTrain/4)
	}
	if err := data.WriteSyntheticVOC(ctx, *out, cfg, *quality); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d train and %d val samples (%d×%d, %d classes: %s) to %s in the VOC layout\n",
		cfg.NTrain, cfg.NVal, cfg.Size, cfg.Size, cfg.Classes,
		strings.Join(data.SyntheticClassNames(cfg.Classes), ", "), *out)
	return nil
}

// dataCheckKeys are the keys of the data section that fcn data check's dataset flags set.
var dataCheckKeys = map[string]string{
	"format": "format", "root": "root", "images": "images", "masks": "masks",
	"ignore": "ignore_label", "train-split": "train_split", "val-split": "val_split",
}

func runDataCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn data check", dataCheckUsage, stderr)
	config, sets := addExperimentFlags(fs, "experiment whose data section is the dataset: a shipped name ("+strings.Join(configs.Names(), ", ")+") or a YAML file")
	// Without an experiment the dataset flags fill cfg directly; with one they become
	// --set overrides (dataCheckKeys) and cfg is the experiment's data section.
	cfg := data.DefaultConfig()
	fs.StringVar(&cfg.Format, "format", "", "dataset format: voc, folder or synthetic")
	fs.StringVar(&cfg.Root, "root", "", "dataset folder")
	fs.StringVar(&cfg.Images, "images", cfg.Images, "folder format: images folder (relative to --root unless absolute; {split} is replaced)")
	fs.StringVar(&cfg.Masks, "masks", cfg.Masks, "folder format: masks folder (as --images)")
	classes := fs.Int("classes", 0, "number of classes (background included)")
	fs.IntVar(&cfg.IgnoreLabel, "ignore", cfg.IgnoreLabel, "ignore label")
	fs.StringVar(&cfg.TrainSplit, "train-split", cfg.TrainSplit, "train split name")
	fs.StringVar(&cfg.ValSplit, "val-split", cfg.ValSplit, "val split name")
	workers := fs.Int("workers", 0, "decoding goroutines (default: all CPUs)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var dataSets []string
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if key, ok := dataCheckKeys[f.Name]; ok {
			dataSets = append(dataSets, "data."+key+"="+f.Value.String())
		}
	})
	switch {
	case *config != "" || len(*sets) > 0:
		exp, err := configs.LoadData(*config, append(dataSets, *sets...), os.Environ())
		if err != nil {
			return err
		}
		cfg = exp.Data
	case !set["format"]:
		fs.Usage()
		return errors.New("give --config NAME|FILE or --format")
	}
	if set["classes"] {
		cfg.Classes, cfg.NumClasses = nil, *classes
		if cfg.Format == data.FormatSynthetic {
			cfg.Synthetic.Classes = *classes
		}
	}
	rep, err := data.Check(ctx, cfg, *workers)
	if err != nil {
		return err
	}
	rep.WriteText(stdout)
	if n := len(rep.Problems); n > 0 {
		return fmt.Errorf("%d problem(s) found in the dataset", n)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/data"
	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

const dataSynthUsage = `usage: fcn data synth --out DIR [--n N] [--n-val M] [--size S] [--seed K] [--classes C]

Writes the synthetic set in the PASCAL VOC layout.

flags:
`

const dataCheckUsage = `usage: fcn data check --config FILE | --format voc|folder|synthetic --root DIR [--images DIR --masks DIR] [--classes N]

Validates a dataset: counts per split, image sizes, the class pixel histogram and every
problem found, each with its file; exits non-zero when there are problems.

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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out: required (the folder to write)")
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

func runDataCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn data check", dataCheckUsage, stderr)
	config := fs.String("config", "", "experiment YAML file whose data section describes the dataset")
	format := fs.String("format", "", "dataset format: voc, folder or synthetic")
	root := fs.String("root", "", "dataset folder")
	images := fs.String("images", "", "folder format: images folder (relative to --root unless absolute; {split} is replaced)")
	masks := fs.String("masks", "", "folder format: masks folder (as --images)")
	classes := fs.Int("classes", 0, "number of classes (background included)")
	ignore := fs.Int("ignore", -1, "ignore label (default 255)")
	trainSplit := fs.String("train-split", "", "train split name (default train)")
	valSplit := fs.String("val-split", "", "val split name (default val)")
	workers := fs.Int("workers", 0, "decoding goroutines (default: all CPUs)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *config == "" && *format == "" {
		fs.Usage()
		return errors.New("give --config FILE or --format")
	}
	cfg := data.DefaultConfig()
	if *config != "" {
		var err error
		if cfg, err = readDataSection(*config); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["format"] {
		cfg.Format = *format
	}
	if set["root"] {
		cfg.Root = *root
	}
	if set["images"] {
		cfg.Images = *images
	}
	if set["masks"] {
		cfg.Masks = *masks
	}
	if set["classes"] {
		cfg.Classes, cfg.NumClasses = nil, *classes
		if cfg.Format == data.FormatSynthetic {
			cfg.Synthetic.Classes = *classes
		}
	}
	if set["ignore"] {
		cfg.IgnoreLabel = *ignore
	}
	if set["train-split"] {
		cfg.TrainSplit = *trainSplit
	}
	if set["val-split"] {
		cfg.ValSplit = *valSplit
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

// readDataSection reads the data section of an experiment file onto the defaults,
// rejecting unknown keys (with the closest valid one) and wrong types. (The configs
// package will own experiment loading; this reads only what `data check` needs.)
func readDataSection(path string) (data.Config, error) {
	cfg := data.DefaultConfig()
	if _, err := os.Stat(path); err != nil {
		return cfg, fmt.Errorf("%s: cannot read the experiment file: %w", path, errors.Unwrap(err))
	}
	v := viper.New()
	v.SetConfigFile(path)
	if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
		v.SetConfigType("yaml")
	}
	if err := v.ReadInConfig(); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if !v.IsSet("data") {
		return cfg, nil
	}
	var md mapstructure.Metadata
	err := v.UnmarshalKey("data", &cfg, func(dc *mapstructure.DecoderConfig) {
		dc.Metadata = &md
		dc.WeaklyTypedInput = false
	})
	if err != nil {
		return cfg, fmt.Errorf("%s: data section: %w", path, err)
	}
	if len(md.Unused) > 0 {
		valid := append(md.Keys, md.Unset...)
		var msgs []string
		sort.Strings(md.Unused)
		for _, k := range md.Unused {
			msg := fmt.Sprintf("data.%s: unknown key", k)
			if s, ok := configs.Closest(k, valid); ok {
				msg += fmt.Sprintf(" (did you mean data.%s?)", s)
			}
			msgs = append(msgs, msg)
		}
		return cfg, fmt.Errorf("%s: %s", path, strings.Join(msgs, "; "))
	}
	return cfg, nil
}

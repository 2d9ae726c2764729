package main

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/figure"
	"github.com/fcn-dev/fcn/train"
)

const predictUsage = `usage: fcn predict --run DIR --input FILE|DIR --output DIR [--slide CROPxSTRIDE] [--tta SPEC]
       fcn predict --checkpoint PATH --input FILE|DIR --output DIR [--config NAME|FILE]
       fcn predict --run DIR --split NAME --output DIR

Segments images (JPEG or PNG; a folder: every .jpg, .jpeg and .png in it; or with --split
the images of a split of the experiment's data) at their own size and writes, per image,
<name>.png (the class of each pixel as a palette PNG with the PASCAL VOC colours, as
VOC's SegmentationClass masks) and <name>_overlay.png (the image blended with those
colours, at its size, with a legend of the classes it shows below it). --run takes a run folder (its model.safetensors, else its latest checkpoint,
and its config.yaml); --checkpoint a checkpoint folder or a safetensors file, with the
experiment from --config or from the run folder it lies in. --split, --slide and --tta
are as in fcn eval.

flags:
`

// predictInput is one image to segment: a file, or a sample of a split.
type predictInput struct {
	name string // the file, or the sample's ID; outputs are named by its stem
	size func() (h, w int, err error)
	load func() (img []float32, h, w int, err error)
}

// runPredict is `fcn predict`.
func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn predict", predictUsage, stderr)
	runDir, ckptFlag := addWeightsFlags(fs)
	input := fs.String("input", "", "an image file or a folder of images (this or --split)")
	split := fs.String("split", "", "segment the images of this split of the experiment's data instead of --input: val or train (data.val_split, data.train_split), or any split the dataset has")
	output := fs.String("output", "", "folder for the masks and overlays (required)")
	config, sets := addExperimentFlags(fs, "experiment (default: the run folder's config.yaml)")
	scores := fs.Bool("scores", false, "also write <name>.scores.safetensors with the normalised input and the scores (with --tta: the mean probabilities)")
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
	weights, err := weightsSource(*runDir, *ckptFlag, false)
	if err != nil {
		return err
	}
	ckpt := &weights
	switch {
	case *input == "" && *split == "":
		return errors.New("--input or --split is required")
	case *input != "" && *split != "":
		return errors.New("--input and --split: give one of them, not both")
	case *output == "":
		return errors.New("--output is required")
	}
	// The data section is needed only to read a split.
	exp, err := experimentFor(*ckpt, *config, *sets, *split == "")
	if err != nil {
		return err
	}
	if err := checkInferOptions(exp, opts); err != nil {
		return err
	}
	var inputs []predictInput
	if *split != "" {
		inputs, err = splitInputs(exp, *split)
	} else {
		inputs, err = fileInputs(*input)
	}
	if err != nil {
		return err
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.name
	}
	outs, err := planPredictOutputs(names, *output, *scores)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*output, 0o755); err != nil {
		return err
	}
	classNames, err := exp.Data.ClassNames()
	if err != nil {
		return err
	}
	var p *train.Predictor
	for i, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := in.name
		// The size first (from the header of a file): the model for an image too large
		// for memory is refused before the image or the model is allocated.
		h, w, err := in.size()
		if err != nil {
			return err
		}
		if err := train.CheckInferenceWith(exp, h, w, opts, limit); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		img, h, w, err := in.load()
		if err != nil {
			return err
		}
		if p == nil {
			rh, rw := opts.FirstRunSize(h, w)
			if p, err = train.NewPredictor(exp, *ckpt, rh, rw); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			p.Options = opts
			how := ""
			if opts.On() {
				how = ", " + opts.String()
			}
			fmt.Fprintf(stdout, "model %s (%d classes) from %s%s\n", exp.Name, exp.Model.Classes, p.Weights, how)
		}
		pred, err := p.Predict(ctx, img, h, w)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		mask, overlay := outs[i].mask, outs[i].overlay
		if err := writeFileWith(mask, func(wr io.Writer) error { return data.EncodeMask(wr, pred.Labels, h, w) }); err != nil {
			return err
		}
		if err := writeFileWith(overlay, func(wr io.Writer) error {
			// The image at its own size, the classes it shows named below it.
			return png.Encode(wr, figure.WithLegend(train.Overlay(img, pred.Labels, h, w, data.VOCPalette), figure.ClassLegend(classNames, data.VOCPalette, pred.Labels)))
		}); err != nil {
			return err
		}
		if *scores {
			ts := []checkpoints.Tensor{
				{Name: "input", Shape: []int{1, 3, h, w}, Data: pred.Input},
				{Name: "scores", Shape: []int{1, exp.Model.Classes, h, w}, Data: pred.Scores},
			}
			if err := checkpoints.WriteSafetensors(outs[i].scores, ts, nil); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s (%d×%d) → %s, %s\n", f, w, h, mask, overlay)
	}
	return nil
}

// fileInputs are the image files of --input.
func fileInputs(path string) ([]predictInput, error) {
	files, err := predictInputs(path)
	if err != nil {
		return nil, err
	}
	out := make([]predictInput, len(files))
	for i, f := range files {
		out[i] = predictInput{
			name: f,
			size: func() (int, int, error) { return data.ImageFileSize(f) },
			load: func() ([]float32, int, int, error) { return data.ReadImageFile(f) },
		}
	}
	return out, nil
}

// splitInputs are the images of the split --split names (see train.ResolveSplit).
func splitInputs(exp *configs.Experiment, name string) ([]predictInput, error) {
	split, err := train.ResolveSplit(exp, name)
	if err != nil {
		return nil, fmt.Errorf("--split: %w", err)
	}
	ds, err := data.Open(exp.Data, split)
	if err != nil {
		return nil, err
	}
	out := make([]predictInput, ds.Len())
	for i := range out {
		s, err := data.SampleID(ds, i)
		if err != nil {
			return nil, err
		}
		out[i] = predictInput{
			name: s,
			size: func() (int, int, error) { return data.SampleSize(ds, i) },
			load: func() ([]float32, int, int, error) {
				smp, err := ds.Sample(i)
				return smp.Image, smp.H, smp.W, err
			},
		}
	}
	return out, nil
}

// predictInputs lists the images to segment: the file given, or the images of a folder
// sorted by name.
func predictInputs(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	var files []string
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".jpg", ".jpeg", ".png":
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("--input %s: no .jpg, .jpeg or .png files in the folder", path)
	}
	return files, nil
}

// writeFileWith replaces path with what write writes, whole or not at all (temp file +
// rename), so an interrupted predict never leaves a half-written mask.
func writeFileWith(path string, write func(io.Writer) error) error {
	return checkpoints.WriteFileAtomic(path, write)
}

// predictOutputs are the files written for one input.
type predictOutputs struct {
	mask, overlay, scores string
}

// planPredictOutputs names every file predict will write and refuses, before anything
// is written, an output that would replace one of the inputs (--output being the input
// folder, with a.png among the images) or the output of another input (a.jpg and a.png
// share the stem a; an image named a_overlay.png beside a.jpg).
func planPredictOutputs(files []string, outDir string, scores bool) ([]predictOutputs, error) {
	inputs := map[string]string{} // canonical path → input as given
	for _, f := range files {
		inputs[canonicalPath(f)] = f
	}
	owner := map[string]string{} // canonical output path → the input it is for
	outs := make([]predictOutputs, len(files))
	for i, f := range files {
		stem := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		o := predictOutputs{mask: filepath.Join(outDir, stem+".png"), overlay: filepath.Join(outDir, stem+"_overlay.png")}
		names := []string{o.mask, o.overlay}
		if scores {
			o.scores = filepath.Join(outDir, stem+".scores.safetensors")
			names = append(names, o.scores)
		}
		for _, n := range names {
			c := canonicalPath(n)
			if in, ok := inputs[c]; ok {
				return nil, fmt.Errorf("--output %s: the result %s for %s would overwrite the input image %s: choose another --output folder", outDir, n, f, in)
			}
			if other, ok := owner[c]; ok {
				return nil, fmt.Errorf("--output %s: %s and %s would both write %s (same file stem): rename one, or segment them into different folders", outDir, other, f, n)
			}
			owner[c] = f
		}
		outs[i] = o
	}
	return outs, nil
}

// canonicalPath makes paths comparable: absolute, cleaned, with symlinks resolved (of the
// file when it exists, else of its folder). Names differing in case are two files.
func canonicalPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	dir, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return filepath.Join(dir, base)
}

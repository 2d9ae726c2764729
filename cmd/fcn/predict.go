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
	"github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/train"
)

const predictUsage = `usage: fcn predict --run DIR --input FILE|DIR --output DIR
       fcn predict --checkpoint PATH --input FILE|DIR --output DIR [--config NAME|FILE]

Segments images (JPEG or PNG; a folder: every .jpg, .jpeg and .png in it) at their own
size and writes, per image, <name>.png (the class of each pixel as a palette PNG with
the PASCAL VOC colours, as VOC's SegmentationClass masks) and <name>_overlay.png (the
image blended with those colours). --run takes a run folder (its model.safetensors,
else its latest checkpoint, and its config.yaml); --checkpoint a checkpoint folder or a
safetensors file, with the experiment from --config or from the run folder it lies in.

flags:
`

// runPredict is `fcn predict`.
func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn predict", predictUsage, stderr)
	runDir, ckptFlag := addWeightsFlags(fs)
	input := fs.String("input", "", "an image file or a folder of images (required)")
	output := fs.String("output", "", "folder for the masks and overlays (required)")
	config, sets := addExperimentFlags(fs, "experiment (default: the run folder's config.yaml)")
	scores := fs.Bool("scores", false, "also write <name>.scores.safetensors with the normalised input and the raw scores")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	weights, err := weightsSource(*runDir, *ckptFlag, false)
	if err != nil {
		return err
	}
	ckpt := &weights
	switch {
	case *input == "":
		return errors.New("--input is required")
	case *output == "":
		return errors.New("--output is required")
	}
	exp, err := experimentFor(*ckpt, *config, *sets, true)
	if err != nil {
		return err
	}
	files, err := predictInputs(*input)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*output, 0o755); err != nil {
		return err
	}
	var p *train.Predictor
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		img, h, w, err := data.ReadImageFile(f)
		if err != nil {
			return err
		}
		if p == nil {
			if p, err = train.NewPredictor(exp, *ckpt, h, w); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			fmt.Fprintf(stdout, "model %s (%d classes) from %s\n", exp.Name, exp.Model.Classes, p.Weights)
		}
		pred, err := p.Predict(ctx, img, h, w)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		stem := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		mask := filepath.Join(*output, stem+".png")
		if err := writeFileWith(mask, func(wr io.Writer) error { return data.EncodeMask(wr, pred.Labels, h, w) }); err != nil {
			return err
		}
		overlay := filepath.Join(*output, stem+"_overlay.png")
		if err := writeFileWith(overlay, func(wr io.Writer) error {
			return png.Encode(wr, train.Overlay(img, pred.Labels, h, w, data.VOCPalette))
		}); err != nil {
			return err
		}
		if *scores {
			ts := []checkpoints.Tensor{
				{Name: "input", Shape: []int{1, 3, h, w}, Data: pred.Input},
				{Name: "scores", Shape: []int{1, exp.Model.Classes, h, w}, Data: pred.Scores},
			}
			if err := checkpoints.WriteSafetensors(filepath.Join(*output, stem+".scores.safetensors"), ts, nil); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s (%d×%d) → %s, %s\n", f, w, h, mask, overlay)
	}
	return nil
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

// writeFileWith creates path and fills it with write.
func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

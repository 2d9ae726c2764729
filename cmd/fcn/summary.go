package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

const summaryUsage = `usage: fcn summary [--config NAME|FILE] [--input HxW] [--batch N] [--set key=value]...

Prints the network of an experiment for a batch of N input images of HxW pixels, without
training: every layer with its type, inputs, output shape, parameters and
multiply-accumulates, the crop offsets worked out from the layers' coordinate maps (as
Caffe's coord_map.py), the compute path each conv and deconv takes at these shapes
("fwd F / bwd B" where the passes differ), and totals. The default size is the training
crop, else the synthetic image size, else 224; the default batch is train.batch_size,
so the paths shown are the ones training takes.

flags:
`

// runSummary is `fcn summary`.
func runSummary(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn summary", summaryUsage, stderr)
	config, sets := addExperimentFlags(fs, "experiment: a shipped name or a YAML file (default \"default\")")
	input := fs.String("input", "", "input size HxW, e.g. 500x500")
	batch := fs.Int("batch", 0, "images per batch (default train.batch_size)")
	maxMem := addMaxMemoryFlag(fs)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	limit, err := maxMemory(*maxMem)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	exp, err := configs.LoadModel(*config, *sets, os.Environ())
	if err != nil {
		return err
	}
	h, w := defaultInputSize(exp)
	if h, w, err = sizeFlag("input", *input, h, w); err != nil {
		return err
	}
	n := exp.Train.BatchSize
	if *batch != 0 {
		n = *batch
	}
	if n < 1 {
		return fmt.Errorf("--batch must be ≥ 1, got %d", n)
	}
	// A size the graph does not take is padded to the nearest one it does, as train,
	// eval and predict do.
	ih, iw := h, w
	if h, w, err = train.FitSize(exp, h, w); err != nil {
		return fmt.Errorf("%s: %w", exp.Source, err)
	}
	if h != ih || w != iw {
		fmt.Fprintf(stdout, "a %d×%d input is padded to %d×%d, the nearest size this net takes (its scores are cropped back to %d×%d)\n\n", ih, iw, h, w, ih, iw)
	}
	// The estimates come from shapes alone; the summary itself builds the model for
	// inference, so that must fit before it is built.
	trainEst, err := train.EstimateTraining(exp, n, h, w, 0)
	if err != nil {
		return fmt.Errorf("%s for a %d×%d input: %w", exp.Source, h, w, err)
	}
	inferEst, err := train.EstimateInference(exp, n, h, w)
	if err != nil {
		return fmt.Errorf("%s for a %d×%d input: %w", exp.Source, h, w, err)
	}
	if err := train.CheckInference(exp, n, h, w, limit); err != nil {
		return err
	}
	g, err := train.BuildModel(exp, n, h, w, tensor.Float32)
	if err != nil {
		return fmt.Errorf("%s for a %d×%d input: %w", exp.Source, h, w, err)
	}
	s := g.Summary()
	fmt.Fprintf(stdout, "%s (%s), input %d×3×%d×%d, %d classes\n\n", exp.Name, exp.Source, n, h, w, exp.Model.Classes)
	if _, err := s.WriteTo(stdout); err != nil {
		return err
	}
	out := g.Shape(train.ScoresNode(exp))
	fmt.Fprintf(stdout, "\noutput: %s (%s), %d×%d for a %d×%d input\n", shapeString(out), train.ScoresNode(exp), out[len(out)-2], out[len(out)-1], h, w)
	var crops []string
	for _, r := range s.Rows {
		if r.HasOffset {
			off := strconv.Itoa(r.Offset[0])
			if r.Offset[0] != r.Offset[1] {
				off = fmt.Sprintf("%d,%d", r.Offset[0], r.Offset[1])
			}
			what := r.Name
			if len(r.Inputs) > 0 {
				what = fmt.Sprintf("%s (crops %s)", r.Name, r.Inputs[0])
			}
			if r.Name == train.ScoresNode(exp) {
				what += " final"
			}
			crops = append(crops, what+" "+off)
		}
	}
	if len(crops) > 0 {
		fmt.Fprintf(stdout, "crop offsets: %s\n", strings.Join(crops, "; "))
	}
	writeMemory(stdout, trainEst, inferEst)
	return nil
}

// defaultInputSize is the training crop, else the synthetic size, else 224.
func defaultInputSize(exp *configs.Experiment) (int, int) {
	switch {
	case exp.Data.Transforms.Crop > 0:
		return exp.Data.Transforms.Crop, exp.Data.Transforms.Crop
	case exp.Data.Format == "synthetic":
		return exp.Data.Synthetic.Size, exp.Data.Synthetic.Size
	}
	return 224, 224
}

// sizeFlag is the size --flag gives (parseHxW), or h×w when it is not set.
func sizeFlag(flag, value string, h, w int) (int, int, error) {
	if value == "" {
		return h, w, nil
	}
	h, w, err := parseHxW(value)
	if err != nil {
		return 0, 0, fmt.Errorf("--%s: %w", flag, err)
	}
	return h, w, nil
}

// parseHxW reads "500x500" (or "500×500", or a single "500").
func parseHxW(s string) (int, int, error) {
	s = strings.ReplaceAll(strings.ToLower(s), "×", "x")
	parts := strings.Split(s, "x")
	if len(parts) == 1 {
		parts = append(parts, parts[0])
	}
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("want HxW, e.g. 500x500, got %q", s)
	}
	var hw [2]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 {
			return 0, 0, fmt.Errorf("want HxW with positive integers, e.g. 500x500, got %q", s)
		}
		hw[i] = v
	}
	return hw[0], hw[1], nil
}

func shapeString(s tensor.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "×")
}

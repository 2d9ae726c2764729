package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/onnx"
)

const exportONNXUsage = `usage: fcn export onnx --run DIR --out FILE [--opset N] [--labels] [--sample DIR [--sample-size HxW]]
       fcn export onnx --checkpoint PATH [--config NAME|FILE] --out FILE ...
       fcn export onnx --config NAME|FILE --out FILE ...   (fresh weights: the net's initialisation)

Writes the model as an ONNX file: input "data" (N×3×H×W, normalised as fcn's evaluation
does; batch and spatial sizes symbolic), output the model's scores (the loss is left
out), and with --labels also "labels", their argmax over the classes. Weights are
initializers named as in fcn's checkpoints ("conv1_1.weight"). --sample DIR also writes
DIR/input.npy, a fixed random input, and DIR/logits.npy, fcn's own scores for it, to
check the file in any runtime.

flags:
`

// runExportONNX is `fcn export onnx`.
func runExportONNX(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn export onnx", exportONNXUsage, stderr)
	runDir, ckpt := addWeightsFlags(fs)
	config, sets := addExperimentFlags(fs, "experiment (default: the run folder's config.yaml); alone: fresh weights")
	out := fs.String("out", "", "the .onnx file to write (required)")
	opset := fs.Int("opset", onnx.DefaultOpset, fmt.Sprintf("ONNX opset, %d to %d", onnx.MinOpset, onnx.MaxOpset))
	labels := fs.Bool("labels", false, `add the output "labels": the argmax class of each pixel`)
	sample := fs.String("sample", "", "folder for input.npy and logits.npy")
	sampleSize := fs.String("sample-size", "", "HxW of the sample (default: the training crop, else 64x64)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if *opset < onnx.MinOpset || *opset > onnx.MaxOpset {
		return fmt.Errorf("--opset %d is not supported: fcn writes opsets %d to %d", *opset, onnx.MinOpset, onnx.MaxOpset)
	}
	weights, err := weightsSource(*runDir, *ckpt, *config != "")
	if err != nil {
		return err
	}
	var exp *configs.Experiment
	if weights == "" {
		exp, err = configs.LoadModel(*config, *sets, os.Environ())
	} else {
		exp, err = experimentFor(weights, *config, *sets, true)
	}
	if err != nil {
		return err
	}
	h, w := 64, 64
	if c := exp.Data.Transforms.Crop; c > 0 {
		h, w = c, c
	}
	if h, w, err = sizeFlag("sample-size", *sampleSize, h, w); err != nil {
		return err
	}
	m, err := onnx.BuildModel(exp, weights, h, w)
	if err != nil {
		return err
	}
	model, err := m.Export(onnx.Options{Opset: *opset, Labels: *labels, Producer: exp.Name})
	if err != nil {
		return err
	}
	b, err := onnx.Marshal(model)
	if err != nil {
		return fmt.Errorf("encoding the ONNX model: %w", err)
	}
	// Everything is computed before the first file is written.
	var in, logits []float32
	var shape []int
	if *sample != "" {
		in = onnx.SampleInput(h, w, 1)
		if logits, shape, err = m.Forward(ctx, in); err != nil {
			return fmt.Errorf("sample forward: %w", err)
		}
	}
	if err := checkpoints.WriteFileAtomic(*out, func(wr io.Writer) error { _, err := wr.Write(b); return err }); err != nil {
		return err
	}
	src := m.Weights
	if src == "" {
		src = "fresh weights"
	}
	fmt.Fprintf(stdout, "wrote %s: %s (%s), opset %d, %d nodes, %d initializers\n", *out, exp.Name, src, *opset, len(model.Graph.Node), len(model.Graph.Initializer))
	if *sample != "" {
		if err := os.MkdirAll(*sample, 0o755); err != nil {
			return err
		}
		if err := onnx.WriteNPY(filepath.Join(*sample, "input.npy"), []int{1, 3, h, w}, in); err != nil {
			return err
		}
		if err := onnx.WriteNPY(filepath.Join(*sample, "logits.npy"), shape, logits); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s/input.npy (1×3×%d×%d) and logits.npy (%v)\n", *sample, h, w, shape)
	}
	return nil
}

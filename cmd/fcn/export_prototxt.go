package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/caffe"
)

const exportPrototxtUsage = `usage: fcn export prototxt [--config NAME|FILE] [--input HxW] [--set key=value]... --out F

Writes an experiment's model as a Caffe net (prototxt): an Input layer of images and
labels, one Caffe layer per fcn layer (a batchnorm is BatchNorm plus Scale), crop
offsets as numbers (auto offsets as Caffe's coord_map gives them for the input size),
per-layer multipliers as param entries, and SoftmaxWithLoss from the loss section.
fcn import caffe reads it back.

  fcn export prototxt --config fcn8s --out fcn8s.prototxt

flags:
`

// runExportPrototxt is `fcn export prototxt`.
func runExportPrototxt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn export prototxt", exportPrototxtUsage, stderr)
	config, sets := addExperimentFlags(fs, "experiment: a shipped name or a YAML file (default \"default\")")
	input := fs.String("input", "", "input size HxW of the Input layer (default as fcn summary)")
	out := fs.String("out", "", "prototxt file to write (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	if *out == "" {
		return errors.New("--out F is required")
	}
	exp, err := configs.LoadModel(*config, *sets, os.Environ())
	if err != nil {
		return err
	}
	h, w := defaultInputSize(exp)
	if h, w, err = sizeFlag("input", *input, h, w); err != nil {
		return err
	}
	net, err := caffe.Export(exp, 1, h, w)
	if err != nil {
		return err
	}
	text, err := caffe.MarshalText(net)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# %s (%s) as a Caffe net, written by fcn export prototxt for a %d×%d input\n", exp.Name, exp.Source, h, w)
	if err := checkpoints.WriteFileAtomic(*out, func(wr io.Writer) error {
		if _, err := io.WriteString(wr, header); err != nil {
			return err
		}
		_, err := wr.Write(text)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d Caffe layers)\n", *out, len(net.GetLayer()))
	return nil
}

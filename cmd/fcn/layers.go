package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
)

const layersUsage = `usage: fcn layers [TYPE] [--json]

Lists the layer types a model may use, with their options, defaults and docs, as the
layer registry declares them; with TYPE, that type alone, with its inputs, its Caffe,
ONNX and PyTorch counterparts and its gradient checks.

`

// layerDoc is one type as `fcn layers --json` writes it.
type layerDoc struct {
	Name      string      `json:"name"`
	Doc       string      `json:"doc"`
	Inputs    [2]int      `json:"inputs"` // min, max (0: no limit)
	Internal  bool        `json:"internal,omitempty"`
	Options   []optionDoc `json:"options"`
	Caffe     string      `json:"caffe,omitempty"`
	ONNX      string      `json:"onnx,omitempty"`
	Torch     string      `json:"torch,omitempty"`
	GradCases int         `json:"gradcheck_cases"`
}

type optionDoc struct {
	Key     string   `json:"key"`
	Kind    string   `json:"kind"`
	Default string   `json:"default"`
	Choices []string `json:"choices,omitempty"`
	Doc     string   `json:"doc"`
}

func docOf(t *layers.Type) layerDoc {
	d := layerDoc{Name: t.Name, Doc: t.Doc, Inputs: [2]int{t.Inputs.Min, t.Inputs.Max}, Internal: t.Internal,
		Caffe: t.Caffe, ONNX: t.ONNX, Torch: t.Torch, Options: []optionDoc{}}
	if t.GradCases != nil {
		d.GradCases = len(t.GradCases())
	}
	for i := range t.Options {
		o := &t.Options[i]
		d.Options = append(d.Options, optionDoc{Key: o.Key, Kind: o.Kind.Label(), Default: o.DefaultString(), Choices: o.Choices, Doc: o.Doc})
	}
	return d
}

// runLayers is `fcn layers`: the layer registry, for people.
func runLayers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn layers", layersUsage, stderr)
	asJSON := fs.Bool("json", false, "print the types as a JSON array")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	types := layers.Types()
	switch fs.NArg() {
	case 0:
	case 1:
		t, ok := layers.Lookup(fs.Arg(0))
		if !ok {
			var names []string
			for _, t := range types {
				names = append(names, t.Name)
			}
			hint := ""
			if best, ok := configs.Closest(fs.Arg(0), names); ok {
				hint = fmt.Sprintf("; did you mean %q?", best)
			}
			return fmt.Errorf("unknown layer type %q%s (types: %s)", fs.Arg(0), hint, strings.Join(names, ", "))
		}
		types = []*layers.Type{t}
	default:
		return fmt.Errorf("takes at most one layer type, got %d arguments", fs.NArg())
	}
	docs := make([]layerDoc, len(types))
	for i, t := range types {
		docs[i] = docOf(t)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(docs)
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printLayerDoc(stdout, d, len(docs) == 1)
	}
	return nil
}

func printLayerDoc(w io.Writer, d layerDoc, detail bool) {
	fmt.Fprintf(w, "%s — %s\n", d.Name, d.Doc)
	if d.Internal {
		fmt.Fprintln(w, "  (not written in model.layers: built from the experiment's loss section)")
	}
	if detail {
		in := fmt.Sprintf("%d", d.Inputs[0])
		switch {
		case d.Inputs[1] == 0:
			in += " or more"
		case d.Inputs[1] != d.Inputs[0]:
			in += fmt.Sprintf(" to %d", d.Inputs[1])
		}
		fmt.Fprintf(w, "  inputs: %s\n", in)
		for _, x := range [][2]string{{"Caffe", d.Caffe}, {"ONNX", d.ONNX}, {"PyTorch", d.Torch}} {
			if x[1] != "" {
				fmt.Fprintf(w, "  %s: %s\n", x[0], x[1])
			}
		}
		fmt.Fprintf(w, "  gradient checks: %d cases (fcn gradcheck --run '^%s/')\n", d.GradCases, d.Name)
	}
	if len(d.Options) == 0 {
		fmt.Fprintln(w, "  no options")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  OPTION\tDEFAULT\tVALUE\tDOC")
	for _, o := range d.Options {
		kind := o.Kind
		if o.Choices != nil {
			kind = strings.Join(o.Choices, " | ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", o.Key, o.Default, kind, o.Doc)
	}
	tw.Flush()
}

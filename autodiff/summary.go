package autodiff

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// SummaryRow describes one graph input or node at the current shapes.
type SummaryRow struct {
	Name      string
	Type      string // layer type, or "input"
	Inputs    []string
	Shape     tensor.Shape // output shape
	Params    int64        // parameter elements
	Trainable int64        // of which not frozen
	MACs      int64        // multiply-accumulates of one forward (layers.MACCounter), 0 if not reported
	HasOffset bool         // the node is a crop; Offset is its (h, w) offset
	Offset    [2]int
	Auto      bool   // the offset was computed from the coordinate maps
	Path      string // the compute path the layer chose for these shapes (layers.PathReporter), "" if none
}

// Summary is a table of the graph, in topological order after the inputs, with totals.
type Summary struct {
	Rows                         []SummaryRow
	Params, Trainable, TotalMACs int64
}

// Summary describes the graph at its current shapes.
func (g *Graph) Summary() Summary {
	var s Summary
	for _, in := range g.specs {
		s.Rows = append(s.Rows, SummaryRow{Name: in.Name, Type: "input", Shape: cloneShape(in.Shape)})
	}
	for _, i := range g.order {
		n := g.nodes[i]
		r := SummaryRow{Name: n.Name, Type: n.Layer.Type(), Inputs: append([]string(nil), n.Inputs...), Shape: cloneShape(n.outShape)}
		for _, p := range n.params {
			c := int64(p.Value.Shape().TotalSize())
			r.Params += c
			if !p.Frozen() {
				r.Trainable += c
			}
		}
		if mc, ok := n.Layer.(layers.MACCounter); ok {
			r.MACs = mc.MACs()
		}
		if pr, ok := n.Layer.(layers.PathReporter); ok {
			r.Path = pr.ComputePath()
		}
		if n.crop != nil {
			h, w := n.crop.layer.Offset()
			r.HasOffset, r.Offset, r.Auto = true, [2]int{h, w}, n.crop.auto
		}
		s.Params += r.Params
		s.Trainable += r.Trainable
		s.TotalMACs += r.MACs
		s.Rows = append(s.Rows, r)
	}
	return s
}

// WriteTo writes the summary as an aligned table followed by the totals.
func (s Summary) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	tw := tabwriter.NewWriter(cw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\ttype\tinputs\toutput\tparams\tMACs\tpath\tcrop offset")
	for _, r := range s.Rows {
		off := ""
		if r.HasOffset {
			off = fmt.Sprintf("%d,%d", r.Offset[0], r.Offset[1])
			if r.Auto {
				off += " (auto)"
			}
		}
		params := ""
		if r.Params > 0 {
			params = fmt.Sprint(r.Params)
			if r.Trainable < r.Params {
				params += fmt.Sprintf(" (%d frozen)", r.Params-r.Trainable)
			}
		}
		macs := ""
		if r.MACs > 0 {
			macs = humanCount(r.MACs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, strings.Join(r.Inputs, ","),
			formatShape(r.Shape), params, macs, r.Path, off)
	}
	if err := tw.Flush(); err != nil {
		return cw.n, err
	}
	_, err := fmt.Fprintf(cw, "total: %d parameters (%d trainable), %s MACs per forward\n",
		s.Params, s.Trainable, humanCount(s.TotalMACs))
	return cw.n, err
}

// String is the table WriteTo writes.
func (s Summary) String() string {
	var b strings.Builder
	s.WriteTo(&b)
	return b.String()
}

// humanCount writes n with a k/M/G/T suffix and three significant digits.
func humanCount(n int64) string {
	f := float64(n)
	for _, u := range []string{"", "k", "M", "G", "T"} {
		if f < 999.5 || u == "T" {
			if u == "" {
				return fmt.Sprint(n)
			}
			return fmt.Sprintf("%.3g%s", f, u)
		}
		f /= 1000
	}
	return fmt.Sprint(n)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

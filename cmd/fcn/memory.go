package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/fcn-dev/fcn/train"
)

// addMaxMemoryFlag adds --max-memory, the most a command may need; commands check their
// estimate against it (or against the memory available) before allocating.
func addMaxMemoryFlag(fs *flag.FlagSet) *string {
	return fs.String("max-memory", "", "the most memory the command may use, e.g. 4GiB or 512MB (default: the memory available, the smaller of the cgroup limit and MemAvailable)")
}

// maxMemory reads --max-memory (0 when not given).
func maxMemory(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := train.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("--max-memory: %w", err)
	}
	return n, nil
}

// writeMemory prints the memory estimates of training and inference.
func writeMemory(w io.Writer, tr, inf *train.MemoryEstimate) {
	var params, acts, scratch int64
	for _, l := range tr.Model.Layers {
		params += l.Params
		acts += l.Activations
		scratch += l.Buffers + l.Scratch
	}
	fmt.Fprintf(w, "memory (estimated from shapes): training %s (parameters, gradients and momenta %s, activations and their gradients %s, working memory %s, loader batches %s, runtime %s); inference %s; largest layer %s (%s in training)\n",
		train.FormatBytes(tr.Total), train.FormatBytes(12*params), train.FormatBytes(4*acts), train.FormatBytes(4*scratch),
		train.FormatBytes(tr.Batches), train.FormatBytes(train.RuntimeOverhead), train.FormatBytes(inf.Total),
		tr.Model.Largest, train.FormatBytes(tr.Model.LargestBytes))
}

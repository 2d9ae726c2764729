package train

import (
	"fmt"
	"sync"

	"github.com/fcn-dev/fcn/configs"
	"gorgonia.org/tensor"
)

// maxAlign bounds how far an input is padded to a size the net takes: the largest
// stride of a shipped net is 32.
const maxAlign = 256

// sizeFitter finds, for each image size, the size the model's graph takes: the size
// itself when it does (FCN's nets pad by 100 and crop, so they take any size), else the
// nearest larger size on both axes whose scores come out at the input's size (the
// default net and fcn16s-tiny need multiples of their stride). The input is padded to
// it outside the graph, the labels with the ignore label, and the scores cropped back.
// Sizes are probed by shape alone (ModelMemory), not by building the graph.
type sizeFitter struct {
	exp  *configs.Experiment
	mu   sync.Mutex
	memo map[[2]int][2]int
	min  int // the smallest square the net takes, 0 until known
}

func newSizeFitter(exp *configs.Experiment) *sizeFitter {
	return &sizeFitter{exp: exp, memo: map[[2]int][2]int{}}
}

func (f *sizeFitter) probe(h, w int) error {
	_, err := ModelMemory(f.exp, 1, h, w, false)
	return err
}

func (f *sizeFitter) takes(h, w int) bool { return f.probe(h, w) == nil }

// aligned is the smallest s ≥ x for which the net takes s×s, or 0.
func (f *sizeFitter) aligned(x int) int {
	for s := x; s <= x+maxAlign; s++ {
		if f.takes(s, s) {
			return s
		}
	}
	return 0
}

// minimum is the smallest square the net takes (up to 1024; 0 if none).
func (f *sizeFitter) minimum() int {
	if f.min == 0 {
		for s := 1; s <= 1024; s++ {
			if f.takes(s, s) {
				f.min = s
				break
			}
		}
	}
	return f.min
}

// fit returns the size to run an h×w image at. When no size near it works, the error is
// the model's own complaint about h×w (a layer that does not fit, an overflow), or, for
// an image below the smallest size the net takes, that size.
func (f *sizeFitter) fit(h, w int) (int, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.memo[[2]int{h, w}]; ok {
		return s[0], s[1], nil
	}
	err0 := f.probe(h, w)
	ph, pw := h, w
	if err0 != nil {
		// Below the smallest size the net takes, padding would be most of the input:
		// refused, naming that size.
		if m := f.minimum(); m > 0 && (h < m || w < m) {
			return 0, 0, fmt.Errorf("an image of %d×%d is too small for %s: the smallest it takes is %d×%d", h, w, f.exp.Name, m, m)
		}
		ph, pw = f.aligned(h), f.aligned(w)
		if ph == 0 || pw == 0 || !f.takes(ph, pw) {
			return 0, 0, fmt.Errorf("for a %d×%d input: %w", h, w, err0)
		}
	}
	f.memo[[2]int{h, w}] = [2]int{ph, pw}
	return ph, pw, nil
}

// FitSize is the size exp's model runs an h×w image at (see sizeFitter): h×w when the
// graph takes it, else the nearest larger size it takes, to which the image is padded.
func FitSize(exp *configs.Experiment, h, w int) (int, int, error) {
	return newSizeFitter(exp).fit(h, w)
}

// padBatch pads a batch's images (with 0, the mean after normalisation) and labels (with
// the ignore label) at the bottom and right to ph×pw, as the loader pads a batch of mixed
// sizes. It returns x and y themselves when no padding is needed.
func padBatch(x, y *tensor.Dense, ph, pw, ignore int) (*tensor.Dense, *tensor.Dense) {
	s := x.Shape()
	n, c, h, w := s[0], s[1], s[2], s[3]
	if h == ph && w == pw {
		return x, y
	}
	xs, ys := x.Data().([]float32), y.Data().([]int32)
	px := make([]float32, n*c*ph*pw)
	py := make([]int32, n*ph*pw)
	for i := range py {
		py[i] = int32(ignore)
	}
	for b := range n {
		for r := range h {
			for ch := range c {
				copy(px[((b*c+ch)*ph+r)*pw:][:w], xs[((b*c+ch)*h+r)*w:][:w])
			}
			copy(py[(b*ph+r)*pw:][:w], ys[(b*h+r)*w:][:w])
		}
	}
	return tensor.New(tensor.WithShape(n, c, ph, pw), tensor.WithBacking(px)),
		tensor.New(tensor.WithShape(n, ph, pw), tensor.WithBacking(py))
}

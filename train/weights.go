package train

import (
	"fmt"
	"math"
	"sort"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"gorgonia.org/tensor"
)

// bufferer is implemented by layers with state that is not learned but must be saved,
// such as batchnorm's running statistics (layers.BatchNorm.Buffers).
type bufferer interface {
	Buffers() map[string]*tensor.Dense
}

// batchCounter is implemented by layers that count their training forwards, as
// PyTorch's batch norm does in num_batches_tracked (layers.BatchNorm.BatchesTracked).
type batchCounter interface {
	BatchesTracked() int64
	SetBatchesTracked(n int64)
}

// modelCounters maps "<node>.num_batches_tracked" to the layers that keep one.
func modelCounters(g *autodiff.Graph) map[string]batchCounter {
	m := map[string]batchCounter{}
	for _, node := range g.Nodes() {
		if c, ok := g.Layer(node).(batchCounter); ok {
			m[node+checkpoints.CounterSuffix] = c
		}
	}
	return m
}

// modelTensor is one tensor of a model's state: a parameter value or a buffer.
type modelTensor struct {
	name string // "<node>.<param>" or "<node>.<buffer>"
	t    *tensor.Dense
}

// modelTensors lists every parameter and buffer of g, sorted by name: what
// model.safetensors holds.
func modelTensors(g *autodiff.Graph) []modelTensor {
	var out []modelTensor
	for _, p := range g.Params() {
		out = append(out, modelTensor{p.Name, p.Value})
	}
	for _, node := range g.Nodes() {
		if b, ok := g.Layer(node).(bufferer); ok {
			for name, t := range b.Buffers() {
				out = append(out, modelTensor{node + "." + name, t})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// ModelShapes maps every tensor of the model's state (parameters, buffers and
// counters, which are scalars) to its shape, in PyTorch's layout: what
// checkpoints.Validate and MatchWeights expect.
func ModelShapes(g *autodiff.Graph) map[string][]int {
	m := map[string][]int{}
	for _, mt := range modelTensors(g) {
		m[mt.name] = append([]int(nil), mt.t.Shape()...)
	}
	for name := range modelCounters(g) {
		m[name] = []int{}
	}
	return m
}

// ModelState returns the model's parameters and buffers as checkpoint tensors. The data
// is copied, so the result stays valid while training goes on.
func ModelState(g *autodiff.Graph) ([]checkpoints.Tensor, error) {
	var ts []checkpoints.Tensor
	for _, mt := range modelTensors(g) {
		data, ok := mt.t.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("model tensor %s is %v; checkpoints hold float32", mt.name, mt.t.Dtype())
		}
		ts = append(ts, checkpoints.Tensor{
			Name:  mt.name,
			Shape: append([]int(nil), mt.t.Shape()...),
			Data:  append([]float32(nil), data[:mt.t.Shape().TotalSize()]...),
		})
	}
	counters := modelCounters(g)
	for _, name := range sortedKeys(counters) {
		ts = append(ts, checkpoints.Tensor{Name: name, Shape: []int{}, Int64: []int64{counters[name].BatchesTracked()}})
	}
	return ts, nil
}

// SetModelState copies tensors into the model's parameters and buffers by name. Every
// tensor given must exist in the model with the same shape, be float32 and hold only
// finite values (NaN or ±Inf weights, from a diverged run or a damaged file, would give
// NaN scores everywhere, silently); tensors the
// model has but ts lacks are left as they are (partial fine-tuning). Nothing is changed
// when any tensor does not fit.
func SetModelState(g *autodiff.Graph, ts []checkpoints.Tensor) error {
	byName := map[string]*tensor.Dense{}
	for _, mt := range modelTensors(g) {
		byName[mt.name] = mt.t
	}
	counters := modelCounters(g)
	for _, t := range ts {
		if _, ok := counters[t.Name]; ok {
			if t.Int64 == nil || len(t.Shape) != 0 || len(t.Int64) != 1 || t.Int64[0] < 0 {
				return fmt.Errorf("tensor %s: want a non-negative I64 scalar (batches tracked), got %s of shape %v", t.Name, t.Dtype(), t.Shape)
			}
			continue
		}
		dst, ok := byName[t.Name]
		switch {
		case !ok:
			return fmt.Errorf("tensor %s: the model has no such parameter or buffer", t.Name)
		case t.Data == nil && t.Len() > 0:
			return fmt.Errorf("tensor %s is %s; the model wants F32", t.Name, t.Dtype())
		case !sameInts(dst.Shape(), t.Shape):
			return fmt.Errorf("tensor %s has shape %v, the model wants %v", t.Name, t.Shape, []int(dst.Shape()))
		case len(t.Data) != dst.Shape().TotalSize():
			return fmt.Errorf("tensor %s holds %d values for shape %v", t.Name, len(t.Data), t.Shape)
		}
		if _, ok := dst.Data().([]float32); !ok {
			return fmt.Errorf("tensor %s: the model is %v, not float32", t.Name, dst.Dtype())
		}
		if err := checkFinite(t); err != nil {
			return err
		}
	}
	for _, t := range ts {
		if c, ok := counters[t.Name]; ok {
			c.SetBatchesTracked(t.Int64[0])
			continue
		}
		copy(byName[t.Name].Data().([]float32), t.Data)
	}
	g.ParamsChanged()
	return nil
}

// checkFinite refuses a tensor holding NaN or ±Inf, naming it and the first bad value.
func checkFinite(t checkpoints.Tensor) error {
	bad, first := 0, -1
	for i, v := range t.Data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("tensor %s holds %d non-finite values of %d (the first, %v, at index %d): refusing weights that are not finite (from a diverged run?)",
			t.Name, bad, len(t.Data), t.Data[first], first)
	}
	return nil
}

func sameInts(a []int, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sgdParams converts the graph's parameters for the optimiser, which keys its momentum
// buffers by the same qualified names as model.safetensors.
func sgdParams(g *autodiff.Graph) []NamedParam {
	var ps []NamedParam
	for _, p := range g.Params() {
		ps = append(ps, NamedParam{Name: p.Name, Param: p.Param})
	}
	return ps
}

// WriteModel writes the model's state to path as a safetensors file (atomically), the
// run folder's final model.safetensors.
func WriteModel(g *autodiff.Graph, path string) error {
	ts, err := ModelState(g)
	if err != nil {
		return err
	}
	return checkpoints.WriteSafetensors(path, ts, map[string]string{"format": "pt"})
}

// LoadModelWeights fills g's parameters and buffers from path, which may be a
// safetensors file, a checkpoint folder or a run folder (its final model.safetensors,
// else its latest checkpoint). The weights must match the model exactly. It returns the
// file actually read.
func LoadModelWeights(g *autodiff.Graph, path string) (string, error) {
	ts, src, err := loadWeightsFile(path)
	if err != nil {
		return "", err
	}
	rep, err := checkpoints.MatchWeights(ts, ModelShapes(g), checkpoints.Strict)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	if err := SetModelState(g, rep.Loaded); err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	return src, nil
}

package train

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"gorgonia.org/tensor"
)

// RuntimeOverhead is what a run holds besides its tensors: the Go runtime, the binary,
// the GEMM's packing buffers, goroutine stacks.
const RuntimeOverhead = 96 << 20

// MemoryEstimate is what a command will hold at most, worked out before allocating.
type MemoryEstimate struct {
	Model   *autodiff.Memory
	Batches int64 // the loader's batches in flight (prefetched, being decoded, trained on)
	Order   int64 // the loaders' sample orders
	// Buffers is what sliding-window and test-time inference hold at the image's size
	// (score sums, resized and flipped copies); 0 for one whole-image pass.
	Buffers int64
	// Optimizer is optimiser state beyond the one buffer a parameter Model.Bytes counts
	// (SGD's momentum): Adam's second moment.
	Optimizer int64
	Total     int64 // Model.Bytes + Batches + Order + Buffers + Optimizer + RuntimeOverhead
}

// Detail says where the bytes go, largest first, for messages.
func (e *MemoryEstimate) Detail() string {
	parts := []struct {
		n    int64
		what string
	}{
		{e.Model.Bytes, fmt.Sprintf("the model %s (its largest layer %s: %s)", FormatBytes(e.Model.Bytes), e.Model.Largest, FormatBytes(e.Model.LargestBytes))},
		{e.Batches, "the loader's batches " + FormatBytes(e.Batches)},
		{e.Order, fmt.Sprintf("the order of %d samples %s", e.Order/8, FormatBytes(e.Order))},
		{e.Buffers, "the full-size score buffers " + FormatBytes(e.Buffers)},
		{e.Optimizer, "Adam's second moments " + FormatBytes(e.Optimizer)},
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].n > parts[j].n })
	var out []string
	for _, p := range parts {
		if p.n > 0 {
			out = append(out, p.what)
		}
	}
	return strings.Join(out, ", ")
}

// ModelMemory estimates the model of exp on n×3×h×w batches, for training (gradients,
// momenta) or for inference, from shapes alone.
func ModelMemory(exp *configs.Experiment, n, h, w int, training bool) (*autodiff.Memory, error) {
	inputs, nodes, err := modelNodes(exp, n, h, w, tensor.Float32)
	if err != nil {
		return nil, err
	}
	return autodiff.EstimateMemory(inputs, nodes, tensor.Float32, training)
}

// batchBytes is the size of one loader batch: images (float32) and labels (int32).
func batchBytes(n, h, w int) (int64, error) {
	px := float64(n) * float64(h) * float64(w)
	b := px * (3*4 + 4)
	if b > math.MaxInt64/64 {
		return 0, fmt.Errorf("a batch of %d×%d×%d images: %.3g bytes, beyond any machine", n, h, w, b)
	}
	return int64(b), nil
}

// EstimateTraining is the estimate of training exp on n×h×w batches: the model in
// training, the loader's batches in flight (Prefetch + Workers + the one trained on),
// and the loaders' orders of the samples (an int each, over `samples`, the train and
// eval splits' sizes together).
func EstimateTraining(exp *configs.Experiment, n, h, w, samples int) (*MemoryEstimate, error) {
	m, err := ModelMemory(exp, n, h, w, true)
	if err != nil {
		return nil, err
	}
	bb, err := batchBytes(n, h, w)
	if err != nil {
		return nil, fmt.Errorf("train.batch_size: %w", err)
	}
	workers := exp.Train.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	prefetch := exp.Data.Prefetch
	if prefetch <= 0 {
		prefetch = 2
	}
	e := &MemoryEstimate{Model: m, Batches: bb * int64(prefetch+workers+1), Order: 8 * int64(samples)}
	if t := exp.Optim.Type; t == OptimAdam || t == OptimAdamW {
		for _, l := range m.Layers {
			e.Optimizer += 4 * l.Params // float32
		}
	}
	e.Total = m.Bytes + e.Batches + e.Order + e.Optimizer + RuntimeOverhead
	return e, nil
}

// TrainInputSize is the H×W of training batches, known before any is loaded: the crop,
// else the synthetic size, else the first image's size (by its header), each times the
// largest random rescale.
func TrainInputSize(exp *configs.Experiment, ds fcndata.Dataset) (h, w int, err error) {
	tf := exp.Data.Transforms
	if tf.Crop > 0 {
		return tf.Crop, tf.Crop, nil
	}
	if exp.Data.Format == fcndata.FormatSynthetic {
		h, w = exp.Data.Synthetic.Size, exp.Data.Synthetic.Size
	} else if h, w, err = fcndata.SampleSize(ds, 0); err != nil {
		return 0, 0, err
	}
	if s := tf.ScaleMax; s > 1 {
		h, w = int(math.Ceil(float64(h)*s)), int(math.Ceil(float64(w)*s))
	}
	return h, w, nil
}

// Available is the memory a process may use now: the smaller of the cgroup's limit
// (memory.max, or cgroup v1's memory.limit_in_bytes) and /proc/meminfo's MemAvailable,
// with where it came from; 0 when neither can be read (not Linux).
func Available() (int64, string) {
	best, from := int64(0), ""
	take := func(v int64, src string) {
		if v > 0 && (best == 0 || v < best) {
			best, from = v, src
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(p); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v < 1<<60 {
				take(v, p)
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64); err == nil {
					take(kb<<10, "MemAvailable in /proc/meminfo")
				}
			}
		}
		f.Close()
	}
	return best, from
}

// CheckMemory refuses need bytes for what (e.g. "training default on 16×64×64 batches")
// when they exceed limit (--max-memory), or, with limit 0, the memory available now;
// detail says where they go, hint what to change.
func CheckMemory(what string, need, limit int64, detail, hint string) error {
	src := "--max-memory"
	if limit <= 0 {
		limit, src = Available()
		if limit <= 0 {
			return nil // unknown: nothing to compare with
		}
	}
	if need <= limit {
		return nil
	}
	msg := fmt.Sprintf("%s needs about %s of memory, more than the %s available (%s)", what, FormatBytes(need), FormatBytes(limit), src)
	if detail != "" {
		msg += ": " + detail
	}
	return fmt.Errorf("%s; %s, or raise --max-memory if you know better", msg, hint)
}

// FormatBytes writes n in binary units: 1.5 GiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 6 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i-1])
}

// ParseBytes reads a size such as 512MB, 2GiB, 1.5G or 1000000 (bytes).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("want a size such as 512MB or 2GiB, got %q", s)
	}
	return int64(v * mult), nil
}

// EstimateInference is the estimate of running exp's model forward on n×h×w batches
// (evaluation, prediction): no gradients or momenta, a batch or two in flight.
func EstimateInference(exp *configs.Experiment, n, h, w int) (*MemoryEstimate, error) {
	m, err := ModelMemory(exp, n, h, w, false)
	if err != nil {
		return nil, err
	}
	bb, err := batchBytes(n, h, w)
	if err != nil {
		return nil, err
	}
	e := &MemoryEstimate{Model: m, Batches: 3 * bb}
	e.Total = m.Bytes + e.Batches + RuntimeOverhead
	return e, nil
}

// CheckInference refuses running exp forward on n×3×h×w inputs when its estimate exceeds
// limit (0: the memory available), before anything is allocated.
func CheckInference(exp *configs.Experiment, n, h, w int, limit int64) error {
	// At the size the model runs the input at (padded where its graph needs it).
	h, w, err := FitSize(exp, h, w)
	if err != nil {
		return fmt.Errorf("%s: %w", exp.Source, err)
	}
	e, err := EstimateInference(exp, n, h, w)
	if err != nil {
		return fmt.Errorf("%s: model for %d×3×%d×%d inputs: %w", exp.Source, n, h, w, err)
	}
	return CheckMemory(fmt.Sprintf("%s: running %s on %d×3×%d×%d inputs", exp.Source, exp.Name, n, h, w), e.Total, limit, e.Detail(), "run it in windows with --slide CROPxSTRIDE (eval, predict), use smaller images or a smaller model")
}

// EstimateInferenceWith is the estimate of running exp's model on one h×w image as opts
// say: the model at the largest size it runs at (with --slide a window, not the image;
// with --tta the largest scale), the image in flight, and the full-size buffers.
func EstimateInferenceWith(exp *configs.Experiment, h, w int, opts InferOptions) (*MemoryEstimate, error) {
	var best *autodiff.Memory
	for _, s := range opts.runSizes(h, w) {
		fh, fw, err := FitSize(exp, s[0], s[1])
		if err != nil {
			return nil, err
		}
		m, err := ModelMemory(exp, 1, fh, fw, false)
		if err != nil {
			return nil, fmt.Errorf("model for 1×3×%d×%d inputs: %w", fh, fw, err)
		}
		if best == nil || m.Bytes > best.Bytes {
			best = m
		}
	}
	bb, err := batchBytes(1, h, w)
	if err != nil {
		return nil, err
	}
	e := &MemoryEstimate{Model: best, Batches: 3 * bb, Buffers: inferBuffers(exp.Model.Classes, h, w, opts)}
	e.Total = e.Model.Bytes + e.Batches + e.Buffers + RuntimeOverhead
	return e, nil
}

// inferBuffers bounds the bytes held at the image's size by inference of one h×w image
// with C classes as opts say: the normalised image and the scores (4 bytes a value), and
// with TTA the float64 sum of probabilities; at the largest scale, the resized image and
// its mirror, the float64 window sums, the window counts and the scores before and after
// being mirrored back, and the scores resized back to the image's size.
func inferBuffers(classes, h, w int, opts InferOptions) int64 {
	c := float64(classes)
	px := float64(h) * float64(w)
	b := px * (3*4 + 4*c)
	if opts.TTA.On() {
		b += px * 8 * c
	}
	scales := opts.TTA.Scales
	if len(scales) == 0 {
		scales = []float64{1}
	}
	var scaled float64
	for _, sc := range scales {
		sh, sw := scaledSize(h, w, sc)
		spx := float64(sh) * float64(sw)
		per := spx * 3 * 4 * 2 // the resized image and its mirror
		if opts.Slide.On() {
			per += spx * (8*c + 4) // window sums and counts
		}
		per += spx*4*c*2 + px*4*c // scores, mirrored back, resized back
		scaled = max(scaled, per)
	}
	return int64(min(b+scaled, math.MaxInt64/4))
}

// CheckInferenceWith refuses running exp on one h×w image as opts say when its estimate
// (EstimateInferenceWith) exceeds limit (0: the memory available), before anything is
// allocated.
func CheckInferenceWith(exp *configs.Experiment, h, w int, opts InferOptions, limit int64) error {
	if !opts.On() {
		return CheckInference(exp, 1, h, w, limit)
	}
	e, err := EstimateInferenceWith(exp, h, w, opts)
	if err != nil {
		return fmt.Errorf("%s: %s on a %d×%d image: %w", exp.Source, opts, h, w, err)
	}
	return CheckMemory(fmt.Sprintf("%s: running %s on a %d×%d image with %s", exp.Source, exp.Name, h, w, opts), e.Total, limit, e.Detail(), "use a smaller --slide window, fewer or smaller --tta scales, or a smaller model")
}

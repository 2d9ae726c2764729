package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Position is where a loader stands: Index samples of epoch Epoch's order have been
// delivered. Saving it after a batch and starting a new loader there (LoaderOptions.Start)
// continues with exactly the batches an uninterrupted loader would have delivered.
type Position struct {
	Epoch int `json:"epoch"`
	Index int `json:"index"`
}

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// BatchSize is the number of samples per batch (≥ 1).
	BatchSize int
	// Workers decode and transform batches in parallel; 0 means GOMAXPROCS.
	Workers int
	// Prefetch is how many batches may wait, ready, ahead of the consumer; 0 means 2.
	Prefetch int
	// Seed drives the per-epoch shuffle and the random transforms.
	Seed uint64
	// Shuffle visits each epoch in a fresh random order derived from (Seed, epoch).
	Shuffle bool
	// Train applies the random transforms; otherwise samples are only normalised.
	Train bool
	// Transforms and IgnoreLabel configure the transforms.
	Transforms  TransformConfig
	IgnoreLabel int
	// Epochs stops the loader after that many epochs (counted from epoch 0); 0 never stops.
	Epochs int
	// DropLast skips an epoch's last batch when it would be short.
	DropLast bool
	// Start is the position to begin at (a saved Loader.Position).
	Start Position
	// Shard, when set, makes the loader build only part of each batch, for data-parallel
	// training: of batch k (counted from Start, k = 0, 1, …) of n samples, only samples
	// [lo, hi) = Shard(k, n) are decoded and delivered (Batch.N = hi − lo, possibly 0).
	// Positions stay those of the whole batches, so a checkpoint does not depend on it.
	Shard func(k, n int) (lo, hi int)
}

// Batch is a batch in NCHW order. Samples of different sizes are padded to the largest
// (image 0, label the ignore label) at the bottom and right. A Batch and its slices belong
// to the loader: they stay valid until the next call to Next, and are then reused.
type Batch struct {
	N, C, H, W int
	Images     []float32 // N×C×H×W, normalised
	Labels     []int32   // N×H×W
	Indices    []int     // dataset index of each sample
	IDs        []string  // file or synthetic id of each sample
	Epoch      int
	Start      Position // position of the first sample
	Next       Position // position after the batch: what Loader.Position reports once delivered
}

// Loader delivers batches of a Dataset in a fixed order, decoding and transforming them on
// a bounded pool of workers. Whatever the worker count, batch k is the same bits: order
// and transforms are derived from the seed, the epoch and the sample index alone.
// Memory is bounded: at most Prefetch+Workers batches exist at once, the one the consumer
// holds included.
type Loader struct {
	ds     Dataset
	opts   LoaderOptions
	tf     *Transforms
	n      int
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	free  chan *Batch // batch buffers not in use
	order chan *job   // jobs in delivery order
	jobs  chan *job   // jobs for the workers

	mu   sync.Mutex
	pos  Position
	held *Batch
	err  error
}

type job struct {
	b    *Batch
	idx  []int
	done chan struct{}
	err  error
}

// NewLoader validates opts and starts the pipeline; it stops when ctx is cancelled or
// Close is called.
func NewLoader(ctx context.Context, ds Dataset, opts LoaderOptions) (*Loader, error) {
	n := ds.Len()
	switch {
	case n == 0:
		return nil, errors.New("data: the dataset is empty")
	case opts.BatchSize < 1:
		return nil, fmt.Errorf("data: batch size must be ≥ 1, got %d", opts.BatchSize)
	case opts.Workers < 0:
		return nil, fmt.Errorf("data: workers must be ≥ 0, got %d", opts.Workers)
	case opts.Prefetch < 0:
		return nil, fmt.Errorf("data: prefetch must be ≥ 0, got %d", opts.Prefetch)
	case opts.Epochs < 0:
		return nil, fmt.Errorf("data: epochs must be ≥ 0, got %d", opts.Epochs)
	case opts.DropLast && opts.BatchSize > n:
		return nil, fmt.Errorf("data: batch size %d exceeds the %d samples of the dataset (with drop-last no batch would be made)", opts.BatchSize, n)
	case opts.Start.Epoch < 0 || opts.Start.Index < 0 || opts.Start.Index > n:
		return nil, fmt.Errorf("data: start position %+v outside the dataset (epoch ≥ 0, 0 ≤ index ≤ %d)", opts.Start, n)
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = 2
	}
	tf, err := NewTransforms(opts.Transforms, opts.IgnoreLabel)
	if err != nil {
		return nil, err
	}
	l := &Loader{ds: ds, opts: opts, tf: tf, n: n, pos: opts.Start}
	l.ctx, l.cancel = context.WithCancel(ctx)
	slots := opts.Prefetch + opts.Workers
	l.free = make(chan *Batch, slots)
	for range slots {
		l.free <- &Batch{}
	}
	l.order = make(chan *job, slots)
	l.jobs = make(chan *job)
	l.wg.Add(1 + opts.Workers)
	go l.produce()
	for range opts.Workers {
		go l.work()
	}
	return l, nil
}

// BatchesPerEpoch is the number of batches of a full epoch.
func (l *Loader) BatchesPerEpoch() int {
	if l.opts.DropLast {
		return l.n / l.opts.BatchSize
	}
	return (l.n + l.opts.BatchSize - 1) / l.opts.BatchSize
}

// Position is the position after the last batch Next delivered (the start position
// before the first).
func (l *Loader) Position() Position {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pos
}

// Permutation is the order in which epoch e visits the dataset: a function of
// (seed, e) only, so it needs no saved state.
func Permutation(seed uint64, epoch, n int, shuffle bool) []int {
	if !shuffle {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		return p
	}
	return newRNG(mix(seed, 0x73687566, uint64(epoch))).perm(n)
}

// sampleRNG is the random source of the transforms of dataset sample idx in epoch.
func sampleRNG(seed uint64, epoch, idx int) *rng {
	return newRNG(mix(seed, 0x7472616e, uint64(epoch), uint64(idx)))
}

// produce walks the batch sequence from the start position, handing each batch to the
// workers and queueing it for in-order delivery; a free buffer must be available first,
// which is what bounds memory.
func (l *Loader) produce() {
	defer l.wg.Done()
	defer close(l.order)
	defer close(l.jobs)
	bs := l.opts.BatchSize
	pos := l.opts.Start
	var perm []int
	permEpoch := -1
	for k := 0; ; k++ {
		if pos.Index >= l.n || (l.opts.DropLast && pos.Index+bs > l.n) {
			pos = Position{Epoch: pos.Epoch + 1}
		}
		if l.opts.Epochs > 0 && pos.Epoch >= l.opts.Epochs {
			return
		}
		if permEpoch != pos.Epoch {
			perm, permEpoch = Permutation(l.opts.Seed, pos.Epoch, l.n, l.opts.Shuffle), pos.Epoch
		}
		end := min(pos.Index+bs, l.n)
		var b *Batch
		select {
		case b = <-l.free:
		case <-l.ctx.Done():
			return
		}
		b.Epoch, b.Start, b.Next = pos.Epoch, pos, Position{pos.Epoch, end}
		idx := perm[pos.Index:end]
		if l.opts.Shard != nil {
			lo, hi := l.opts.Shard(k, len(idx))
			if lo < 0 || lo > hi || hi > len(idx) {
				l.fail(fmt.Errorf("data: shard [%d, %d) of batch %d is not within its %d samples", lo, hi, k, len(idx)))
				return
			}
			idx = idx[lo:hi]
		}
		j := &job{b: b, idx: idx, done: make(chan struct{})}
		select {
		case l.order <- j:
		case <-l.ctx.Done():
			return
		}
		select {
		case l.jobs <- j:
		case <-l.ctx.Done():
			return
		}
		pos = b.Next
	}
}

func (l *Loader) work() {
	defer l.wg.Done()
	for j := range l.jobs {
		j.err = l.build(j)
		close(j.done)
	}
}

// build decodes, transforms and packs one batch.
func (l *Loader) build(j *job) error {
	views := make([]view, len(j.idx))
	hb, wb := 0, 0
	for k, idx := range j.idx {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		s, err := l.ds.Sample(idx)
		if err != nil {
			return err
		}
		if len(s.Image) != Channels*s.H*s.W || len(s.Label) != s.H*s.W {
			return fmt.Errorf("%s: sample has %d image values and %d labels for %d×%d", s.ID, len(s.Image), len(s.Label), s.W, s.H)
		}
		views[k] = l.tf.plan(s, l.opts.Train, sampleRNG(l.opts.Seed, j.b.Epoch, idx))
		views[k].datasetIdx = idx
		hb, wb = max(hb, views[k].h), max(wb, views[k].w)
	}
	b := j.b
	b.N, b.C, b.H, b.W = len(j.idx), Channels, hb, wb
	b.Images = grow(b.Images, b.N*Channels*hb*wb)
	b.Labels = grow(b.Labels, b.N*hb*wb)
	b.Indices = b.Indices[:0]
	b.IDs = b.IDs[:0]
	for k, v := range views {
		plane := hb * wb
		l.tf.write(v, b.Images[k*Channels*plane:(k+1)*Channels*plane], b.Labels[k*plane:(k+1)*plane], hb, wb)
		b.Indices = append(b.Indices, v.datasetIdx)
		b.IDs = append(b.IDs, v.id)
	}
	return nil
}

// grow returns s resized to n, reusing its memory when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// Next returns the next batch: io.EOF after the last epoch, the context's error once
// cancelled, or the error of a sample that could not be loaded (it names the file; the
// loader stops there). The previous batch is recycled.
func (l *Loader) Next() (*Batch, error) {
	l.mu.Lock()
	if l.held != nil {
		l.free <- l.held // never blocks: free has room for every buffer
		l.held = nil
	}
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var j *job
	var ok bool
	select {
	case j, ok = <-l.order:
	case <-l.ctx.Done():
		return nil, l.fail(l.ctx.Err())
	}
	if !ok {
		if err := l.ctx.Err(); err != nil {
			return nil, l.fail(err)
		}
		return nil, l.fail(io.EOF)
	}
	select {
	case <-j.done:
	case <-l.ctx.Done():
		return nil, l.fail(l.ctx.Err())
	}
	if j.err != nil {
		return nil, l.fail(j.err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pos = j.b.Next
	l.held = j.b
	return j.b, nil
}

func (l *Loader) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
	return l.err
}

// Close stops the workers and waits for them; batches already delivered become invalid.
func (l *Loader) Close() error {
	l.cancel()
	l.wg.Wait()
	return nil
}

// TrainLoaderOptions are the options of a training loader for this data section: random
// transforms, a fresh shuffle every epoch, full batches only (DropLast), no end.
func (c Config) TrainLoaderOptions(batchSize, workers int, seed uint64, start Position) LoaderOptions {
	return LoaderOptions{BatchSize: batchSize, Workers: workers, Prefetch: c.Prefetch, Seed: seed,
		Shuffle: true, Train: true, Transforms: c.Transforms, IgnoreLabel: c.IgnoreLabel,
		DropLast: true, Start: start}
}

// EvalLoaderOptions are the options of an evaluation loader: one pass in dataset order,
// normalisation only, a short last batch kept.
func (c Config) EvalLoaderOptions(batchSize, workers int) LoaderOptions {
	return LoaderOptions{BatchSize: batchSize, Workers: workers, Prefetch: c.Prefetch,
		Transforms: c.Transforms, IgnoreLabel: c.IgnoreLabel, Epochs: 1}
}

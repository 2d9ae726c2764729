package data

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func smallSynthetic(t testing.TB, n, size int) *Synthetic {
	t.Helper()
	c := DefaultSyntheticConfig()
	c.NTrain, c.Size = n, size
	ds, err := NewSynthetic(c, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func trainOptions(workers int) LoaderOptions {
	tc := DefaultTransformConfig()
	tc.ScaleMin, tc.ScaleMax, tc.Crop = 0.75, 1.25, 28
	return LoaderOptions{BatchSize: 4, Workers: workers, Prefetch: 2, Seed: 42, Shuffle: true,
		Train: true, Transforms: tc, IgnoreLabel: 255}
}

// digest hashes everything a batch delivers, bit for bit.
func digest(b *Batch) string {
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, []int64{int64(b.N), int64(b.C), int64(b.H), int64(b.W), int64(b.Epoch)})
	for _, v := range b.Images {
		binary.Write(h, binary.LittleEndian, math.Float32bits(v))
	}
	binary.Write(h, binary.LittleEndian, b.Labels)
	for _, i := range b.Indices {
		binary.Write(h, binary.LittleEndian, int64(i))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// collect reads up to max batches (all, if max < 0) and returns their digests and the
// position after each.
func collect(t *testing.T, l *Loader, max int) ([]string, []Position) {
	t.Helper()
	var ds []string
	var ps []Position
	for max < 0 || len(ds) < max {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, digest(b))
		ps = append(ps, l.Position())
	}
	return ds, ps
}

func TestLoaderSameBatchesWhateverTheWorkers(t *testing.T) {
	ds := smallSynthetic(t, 22, 32)
	var ref []string
	for _, workers := range []int{1, 2, 8} {
		opts := trainOptions(workers)
		opts.Epochs = 2
		l, err := NewLoader(context.Background(), ds, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := collect(t, l, -1)
		l.Close()
		if len(got) != 2*6 { // 22 samples, batch 4: 5 full batches and one of 2, per epoch
			t.Fatalf("%d workers: %d batches, want 12", workers, len(got))
		}
		if ref == nil {
			ref = got
			continue
		}
		for i := range ref {
			if got[i] != ref[i] {
				t.Fatalf("%d workers: batch %d differs from 1 worker's", workers, i)
			}
		}
	}
	// Another seed gives other batches (so the comparison above can fail).
	opts := trainOptions(2)
	opts.Seed = 43
	l, _ := NewLoader(context.Background(), ds, opts)
	defer l.Close()
	other, _ := collect(t, l, 3)
	if other[0] == ref[0] {
		t.Fatal("seed 43 gives the same first batch as seed 42")
	}
}

// Stopping mid-epoch, saving the position and starting a new loader there (with another
// worker count) gives exactly the batches an uninterrupted loader gives.
func TestLoaderResume(t *testing.T) {
	ds := smallSynthetic(t, 22, 32)
	opts := trainOptions(2)
	opts.Epochs = 3
	l, _ := NewLoader(context.Background(), ds, opts)
	all, allPos := collect(t, l, -1)
	l.Close()
	for _, stop := range []int{1, 3, 6, 8, 17} { // mid-epoch, at an epoch's end, ...
		opts := trainOptions(3)
		opts.Epochs = 3
		l, _ := NewLoader(context.Background(), ds, opts)
		first, pos := collect(t, l, stop)
		saved := pos[len(pos)-1]
		l.Close()
		if saved != allPos[stop-1] {
			t.Fatalf("stop %d: position %+v, uninterrupted %+v", stop, saved, allPos[stop-1])
		}
		opts = trainOptions(5)
		opts.Epochs = 3
		opts.Start = saved
		l, err := NewLoader(context.Background(), ds, opts)
		if err != nil {
			t.Fatal(err)
		}
		if l.Position() != saved {
			t.Fatalf("a new loader reports %+v before its first batch, want %+v", l.Position(), saved)
		}
		rest, _ := collect(t, l, -1)
		l.Close()
		got := append(first, rest...)
		if len(got) != len(all) {
			t.Fatalf("stop %d: %d batches in all, want %d", stop, len(got), len(all))
		}
		for i := range all {
			if got[i] != all[i] {
				t.Fatalf("stop %d (resumed at %+v): batch %d differs", stop, saved, i)
			}
		}
	}
}

// Each epoch visits every sample once, in an order of its own.
func TestLoaderShuffle(t *testing.T) {
	ds := smallSynthetic(t, 10, 16)
	opts := trainOptions(2)
	opts.Epochs, opts.BatchSize = 3, 3
	opts.Transforms.Crop = 0
	opts.Transforms.ScaleMin, opts.Transforms.ScaleMax = 1, 1
	l, _ := NewLoader(context.Background(), ds, opts)
	defer l.Close()
	orders := make([][]int, 3)
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		orders[b.Epoch] = append(orders[b.Epoch], b.Indices...)
	}
	for e, o := range orders {
		seen := map[int]bool{}
		for _, i := range o {
			seen[i] = true
		}
		if len(o) != 10 || len(seen) != 10 {
			t.Fatalf("epoch %d visits %v, want each of 0..9 once", e, o)
		}
	}
	if fmt.Sprint(orders[0]) == fmt.Sprint(orders[1]) {
		t.Fatal("epochs 0 and 1 have the same order")
	}
	if p := Permutation(42, 1, 10, true); fmt.Sprint(p) != fmt.Sprint(orders[1]) {
		t.Fatalf("Permutation(42, 1) = %v, loader visited %v", p, orders[1])
	}
}

func TestLoaderDropLastAndBatchSize(t *testing.T) {
	ds := smallSynthetic(t, 10, 16)
	opts := trainOptions(2)
	opts.Epochs, opts.BatchSize, opts.DropLast = 2, 4, true
	l, _ := NewLoader(context.Background(), ds, opts)
	defer l.Close()
	if l.BatchesPerEpoch() != 2 {
		t.Fatalf("BatchesPerEpoch = %d, want 2", l.BatchesPerEpoch())
	}
	n := 0
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.N != 4 || b.H != 28 || b.W != 28 || len(b.Images) != 4*3*28*28 || len(b.Labels) != 4*28*28 {
			t.Fatalf("batch of %d %d×%d (%d values)", b.N, b.W, b.H, len(b.Images))
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d batches, want 4", n)
	}
	if _, err := NewLoader(context.Background(), ds, LoaderOptions{BatchSize: 11, DropLast: true, Transforms: DefaultTransformConfig()}); err == nil {
		t.Fatal("batch 11 of 10 samples with drop-last should be refused")
	}
	if _, err := NewLoader(context.Background(), ds, LoaderOptions{BatchSize: 2, Start: Position{0, 11}, Transforms: DefaultTransformConfig()}); err == nil {
		t.Fatal("a start position past the dataset should be refused")
	}
}

// Evaluation batches of images of different sizes are padded to the largest, labels with
// the ignore label; nothing random happens.
func TestLoaderEvalPadsVariedSizes(t *testing.T) {
	root := t.TempDir()
	writeVOC(t, root, 5)
	ds, err := Open(vocConfig(root, 5), "train") // 11×9, 8×8, 13×7
	if err != nil {
		t.Fatal(err)
	}
	opts := LoaderOptions{BatchSize: 3, Workers: 2, Transforms: DefaultTransformConfig(), IgnoreLabel: 255, Epochs: 1}
	l, err := NewLoader(context.Background(), ds, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.Next()
	if err != nil {
		t.Fatal(err)
	}
	if b.H != 9 || b.W != 13 {
		t.Fatalf("batch is %d×%d, want 13×9", b.W, b.H)
	}
	// Sample 1 (8×8) sits top-left of its slot; the rest is ignore.
	lab := b.Labels[b.H*b.W : 2*b.H*b.W]
	want := testLabels(8, 8, 5)
	for y := range b.H {
		for x := range b.W {
			got := lab[y*b.W+x]
			if y < 8 && x < 8 {
				if got != int32(want[y*8+x]) {
					t.Fatalf("(%d,%d) label %d, want %d", x, y, got, want[y*8+x])
				}
			} else if got != 255 {
				t.Fatalf("pad (%d,%d) label %d, want 255", x, y, got)
			}
		}
	}
	if _, err := l.Next(); err != io.EOF {
		t.Fatalf("after one epoch: %v, want io.EOF", err)
	}
}

// failing is a dataset whose sample bad cannot be read.
type failing struct {
	Dataset
	bad int
}

func (f failing) Sample(i int) (Sample, error) {
	if i == f.bad {
		return Sample{}, fmt.Errorf("/data/broken_%d.jpg: truncated image", i)
	}
	return f.Dataset.Sample(i)
}

func TestLoaderReportsSampleErrors(t *testing.T) {
	ds := failing{smallSynthetic(t, 12, 16), 7}
	opts := trainOptions(3)
	opts.Shuffle, opts.Transforms.Crop = false, 0
	l, _ := NewLoader(context.Background(), ds, opts)
	defer l.Close()
	for k := range 2 { // samples 0..7: the second batch holds 7
		_, err := l.Next()
		if k == 0 && err != nil {
			t.Fatal(err)
		}
		if k == 1 {
			if err == nil || !strings.Contains(err.Error(), "/data/broken_7.jpg") {
				t.Fatalf("want the error naming /data/broken_7.jpg, got %v", err)
			}
		}
	}
	if _, err := l.Next(); err == nil {
		t.Fatal("the loader carried on after an error")
	}
}

func TestLoaderCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	ds := smallSynthetic(t, 64, 32)
	ctx, cancel := context.WithCancel(context.Background())
	l, _ := NewLoader(ctx, ds, trainOptions(4))
	if _, err := l.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = l.Next() // may deliver batches already prepared, then must stop
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
	l.Close()
	for time.Now().Before(deadline) && runtime.NumGoroutine() > before {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left running after Close (%d before)", n-before, before)
	}
}

// counting wraps a dataset and counts calls, in total and at once.
type counting struct {
	Dataset
	calls, inFlight, maxInFlight atomic.Int64
	delay                        time.Duration
}

func (c *counting) Sample(i int) (Sample, error) {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(c.delay)
	defer c.inFlight.Add(-1)
	return c.Dataset.Sample(i)
}

// Memory stays bounded by the prefetch depth: a consumer that stops reading leaves at
// most Prefetch+Workers batches made (the one it holds included), at most Workers
// samples decoded at once, and only Prefetch+Workers distinct batch buffers ever exist.
func TestLoaderMemoryBounded(t *testing.T) {
	const workers, prefetch, batch = 3, 2, 2
	ds := &counting{Dataset: smallSynthetic(t, 200, 16), delay: time.Millisecond}
	opts := trainOptions(workers)
	opts.Prefetch, opts.BatchSize, opts.Transforms.Crop = prefetch, batch, 0
	l, _ := NewLoader(context.Background(), ds, opts)
	defer l.Close()
	buffers := map[*Batch]bool{}
	b, err := l.Next()
	if err != nil {
		t.Fatal(err)
	}
	buffers[b] = true
	// The pipeline fills up, then must stop.
	for deadline := time.Now().Add(5 * time.Second); ds.calls.Load() < int64((prefetch+workers-1)*batch) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got, limit := ds.calls.Load(), int64((prefetch+workers)*batch); got > limit {
		t.Fatalf("a stalled consumer let %d samples be decoded, limit %d", got, limit)
	}
	if got := ds.calls.Load(); got < int64((prefetch+workers-1)*batch) {
		t.Fatalf("only %d samples decoded ahead: the loader does not prefetch", got)
	}
	for range 60 {
		b, err := l.Next()
		if err != nil {
			t.Fatal(err)
		}
		buffers[b] = true
	}
	if len(buffers) > prefetch+workers {
		t.Fatalf("%d distinct batch buffers, limit %d", len(buffers), prefetch+workers)
	}
	if m := ds.maxInFlight.Load(); m > workers {
		t.Fatalf("%d samples decoded at once with %d workers", m, workers)
	}
}

// BenchmarkLoader measures the loader on the synthetic set at 128×128 (render, random
// scale, crop and flip, normalise) with 2 workers.
func BenchmarkLoader(b *testing.B) {
	c := DefaultSyntheticConfig()
	c.NTrain, c.Size = 256, 128
	ds, err := NewSynthetic(c, "train", nil)
	if err != nil {
		b.Fatal(err)
	}
	tc := DefaultTransformConfig()
	tc.ScaleMin, tc.ScaleMax, tc.Crop = 0.75, 1.25, 128
	opts := LoaderOptions{BatchSize: 8, Workers: 2, Prefetch: 4, Seed: 1, Shuffle: true, Train: true, Transforms: tc, IgnoreLabel: 255}
	l, err := NewLoader(context.Background(), ds, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	images := 0
	for range b.N {
		bt, err := l.Next()
		if err != nil {
			b.Fatal(err)
		}
		images += bt.N
	}
	b.ReportMetric(float64(images)/time.Since(start).Seconds(), "images/s")
	// Per CPU-second too: on a shared machine wall time says more about the neighbours.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(images)/cpu.Seconds(), "images/cpu-s")
	}
}

func TestConfigLoaderOptions(t *testing.T) {
	c := DefaultConfig()
	c.Synthetic.NTrain, c.Synthetic.NVal, c.Synthetic.Size = 10, 5, 24
	train, err := Open(c, c.TrainSplit)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(context.Background(), train, c.TrainLoaderOptions(4, 2, 7, Position{}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for k := range 7 { // crosses epochs: every batch is full
		b, err := l.Next()
		if err != nil {
			t.Fatal(err)
		}
		if b.N != 4 {
			t.Fatalf("training batch %d has %d samples, want 4", k, b.N)
		}
	}
	val, _ := Open(c, c.ValSplit)
	ev, err := NewLoader(context.Background(), val, c.EvalLoaderOptions(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	var idx []int
	for {
		b, err := ev.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, b.Indices...)
	}
	if fmt.Sprint(idx) != "[0 1 2 3 4]" {
		t.Fatalf("evaluation visits %v, want [0 1 2 3 4] once", idx)
	}
}

package train

import (
	"context"
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"gorgonia.org/tensor"
)

// EvalResult is an evaluation over a whole split.
type EvalResult struct {
	Split   string
	Metrics Metrics // from the confusion matrix of every pixel of the split
	Loss    float64 // mean over images of the loss (as configured), NaN when undefined
	Images  int
	Classes []string // class names, by id
	// Confusion is the split's confusion matrix, the metrics' source.
	Confusion *Confusion
}

// EvalBatchSize is the batch size evaluation uses: the training batch size when every
// image of the split has the same size (the synthetic set), else 1, so that images of
// different sizes are scored at their native size without padding.
func EvalBatchSize(exp *configs.Experiment) int {
	if exp.Data.Format == fcndata.FormatSynthetic {
		return exp.Train.BatchSize
	}
	return 1
}

// SplitName returns the dataset split that exp.Eval.Split ("val" or "train") names.
func SplitName(exp *configs.Experiment, which string) string {
	if which == "train" {
		return exp.Data.TrainSplit
	}
	return exp.Data.ValSplit
}

// ResolveSplit is the dataset split that --split names: val and train are the
// experiment's data.val_split and data.train_split (as eval.split reads them); any other
// name must be a split the dataset has (data.CheckSplit: an unknown one is an error
// listing those it has).
func ResolveSplit(exp *configs.Experiment, name string) (string, error) {
	switch name {
	case "val":
		return exp.Data.ValSplit, nil
	case "train":
		return exp.Data.TrainSplit, nil
	}
	if err := fcndata.CheckSplit(exp.Data, name); err != nil {
		return "", err
	}
	return name, nil
}

// Evaluate scores g over every image of ds: the graph runs in evaluation mode (no
// dropout, batchnorm on running statistics), the images get no random transform, only
// the normalisation, and each pixel's prediction is the argmax of the scores. All pixels
// go into one confusion matrix, whose metrics are FCN's (see Metrics). The graph is left
// in evaluation mode and reshaped as the batches need. Results do not depend on the
// worker count.
func Evaluate(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, ds fcndata.Dataset, batchSize, workers int) (EvalResult, error) {
	return evaluateShard(ctx, g, exp, ds, batchSize, workers, nil)
}

// evaluateShard is Evaluate over this rank's part of the split (par nil or one rank:
// all of it), the confusion matrix, the loss and the image count summed over ranks.
func evaluateShard(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, ds fcndata.Dataset, batchSize, workers int, par *parallel) (EvalResult, error) {
	return evaluateShardWith(ctx, g, exp, ds, batchSize, workers, par, InferOptions{})
}

// EvaluateWith is Evaluate with each image run as opts say: in sliding windows, with
// test-time augmentation, or both. With either, each image of a batch is run on its
// own and the loss is not defined (NaN): it is the net's loss over a whole image.
func EvaluateWith(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, ds fcndata.Dataset, batchSize, workers int, opts InferOptions) (EvalResult, error) {
	return evaluateShardWith(ctx, g, exp, ds, batchSize, workers, nil, opts)
}

func evaluateShardWith(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, ds fcndata.Dataset, batchSize, workers int, par *parallel, opts InferOptions) (EvalResult, error) {
	res := EvalResult{Classes: ds.ClassNames(), Loss: math.NaN()}
	fit := newSizeFitter(exp)
	conf, err := NewConfusion(exp.Model.Classes, exp.Data.IgnoreLabel)
	if err != nil {
		return res, err
	}
	lopts := exp.Data.EvalLoaderOptions(batchSize, workers)
	sharded := par != nil && par.sharded()
	if sharded {
		lopts.Shard = par.evalShard
	}
	ld, err := fcndata.NewLoader(ctx, ds, lopts)
	if err != nil {
		return res, err
	}
	defer ld.Close()
	g.SetTraining(false)
	scores := ScoresNode(exp)
	var lossSum float64
	lossN := 0
	for {
		b, err := ld.Next()
		if err != nil {
			if isEOF(err) {
				break
			}
			return res, fmt.Errorf("evaluation: %w", err)
		}
		if b.N == 0 { // another rank's batch
			continue
		}
		x, y := batchTensors(b)
		if opts.On() {
			if err := evalImagesWith(ctx, g, exp, fit, b, conf, opts); err != nil {
				return res, err
			}
			res.Images += b.N
			continue
		}
		ph, pw, err := fit.fit(b.H, b.W)
		if err != nil {
			return res, fmt.Errorf("evaluation on %s: %w", b.IDs[0], err)
		}
		// Padded pixels carry the ignore label: they count nowhere.
		x, y = padBatch(x, y, ph, pw, exp.Data.IgnoreLabel)
		if err := g.Forward(ctx, x, y); err != nil {
			return res, fmt.Errorf("evaluation on %s: %w", b.IDs[0], err)
		}
		if err := conf.AddScores(y, g.Value(scores)); err != nil {
			return res, fmt.Errorf("evaluation on %s: %w", b.IDs[0], err)
		}
		if l := g.Loss(); !math.IsNaN(l) && !math.IsInf(l, 0) {
			lossSum += l * float64(b.N)
			lossN += b.N
		}
		res.Images += b.N
	}
	if sharded {
		if err := par.reduceEval(conf, &lossSum, &lossN, &res.Images); err != nil {
			return res, fmt.Errorf("evaluation: summing over ranks: %w", err)
		}
	}
	res.Metrics, res.Confusion = conf.Metrics(), conf
	if lossN > 0 {
		res.Loss = lossSum / float64(lossN)
	}
	return res, nil
}

// evalImagesWith runs each image of batch b as opts say and adds its predictions to conf.
func evalImagesWith(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, fit *sizeFitter, b *fcndata.Batch, conf *Confusion, opts InferOptions) error {
	r := &netRunner{g: g, exp: exp, fit: fit}
	px := b.C * b.H * b.W
	n := b.H * b.W
	for i := range b.N {
		_, pred, err := r.infer(ctx, b.Images[i*px:][:px], b.H, b.W, opts)
		if err != nil {
			return fmt.Errorf("evaluation on %s: %w", b.IDs[i], err)
		}
		if err := conf.Add(b.Labels[i*n:][:n], pred); err != nil {
			return fmt.Errorf("evaluation on %s: %w", b.IDs[i], err)
		}
	}
	return nil
}

// batchTensors wraps a loader batch as the graph's "data" and "label" inputs, sharing
// its memory: they are valid until the loader's next Next.
func batchTensors(b *fcndata.Batch) (x, y *tensor.Dense) {
	nx := b.N * b.C * b.H * b.W
	ny := b.N * b.H * b.W
	x = tensor.New(tensor.WithShape(b.N, b.C, b.H, b.W), tensor.WithBacking(b.Images[:nx:nx]))
	y = tensor.New(tensor.WithShape(b.N, b.H, b.W), tensor.WithBacking(b.Labels[:ny:ny]))
	return x, y
}

// EvaluateWeights builds exp's model, loads weights from path (a safetensors file, a
// checkpoint folder or a run folder; see LoadModelWeights) and evaluates it on the split
// which names (see ResolveSplit), each image run as opts say. It returns the result and
// the file the weights came from. The model's memory estimate (at the window size with
// --slide) is checked against maxMemory (0: the memory available) before it is built.
func EvaluateWeights(ctx context.Context, exp *configs.Experiment, path, which string, maxMemory int64, opts InferOptions) (EvalResult, string, error) {
	split, err := ResolveSplit(exp, which)
	if err != nil {
		return EvalResult{}, "", err
	}
	ds, err := fcndata.Open(exp.Data, split)
	if err != nil {
		return EvalResult{}, "", err
	}
	if err := checkClasses(exp, ds, split); err != nil {
		return EvalResult{}, "", err
	}
	first, err := ds.Sample(0)
	if err != nil {
		return EvalResult{}, "", err
	}
	bs := min(EvalBatchSize(exp), ds.Len())
	bh, bw := first.H, first.W
	if opts.On() {
		// Each image is run on its own, in windows or at each scale.
		bs = 1
		if err := CheckInferenceWith(exp, first.H, first.W, opts, maxMemory); err != nil {
			return EvalResult{}, "", err
		}
		bh, bw = opts.FirstRunSize(first.H, first.W)
	} else if err := CheckInference(exp, bs, first.H, first.W, maxMemory); err != nil {
		return EvalResult{}, "", err
	}
	fh, fw, err := FitSize(exp, bh, bw)
	if err != nil {
		return EvalResult{}, "", fmt.Errorf("%s: %w", first.ID, err)
	}
	g, err := BuildModel(exp, bs, fh, fw, tensor.Float32)
	if err != nil {
		return EvalResult{}, "", fmt.Errorf("model for %d×%d images: %w", bh, bw, err)
	}
	src, err := LoadModelWeights(g, path)
	if err != nil {
		return EvalResult{}, "", err
	}
	res, err := EvaluateWith(ctx, g, exp, ds, bs, exp.Train.Workers, opts)
	res.Split = split
	return res, src, err
}

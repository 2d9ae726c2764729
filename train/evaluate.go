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
// which ("val" or "train") names. It returns the result and the file the weights came from.
// The model's memory estimate is checked against maxMemory (0: the memory available)
// before it is built.
func EvaluateWeights(ctx context.Context, exp *configs.Experiment, path, which string, maxMemory int64) (EvalResult, string, error) {
	split := SplitName(exp, which)
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
	if err := CheckInference(exp, bs, first.H, first.W, maxMemory); err != nil {
		return EvalResult{}, "", err
	}
	fh, fw, err := FitSize(exp, first.H, first.W)
	if err != nil {
		return EvalResult{}, "", fmt.Errorf("%s: %w", first.ID, err)
	}
	g, err := BuildModel(exp, bs, fh, fw, tensor.Float32)
	if err != nil {
		return EvalResult{}, "", fmt.Errorf("model for %d×%d images: %w", first.H, first.W, err)
	}
	src, err := LoadModelWeights(g, path)
	if err != nil {
		return EvalResult{}, "", err
	}
	res, err := Evaluate(ctx, g, exp, ds, bs, exp.Train.Workers)
	res.Split = which
	return res, src, err
}

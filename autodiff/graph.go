// Package autodiff runs fcn's layers as a graph and checks their gradients.
//
// A Graph is built from named nodes, each a layers.Layer wired to its inputs by name
// (the default input is the previous node, as in Caffe prototxts). Build checks the
// wiring, orders the nodes topologically, infers every shape by running each layer's
// Setup, and computes Caffe-style crop offsets. Forward runs the nodes in topological
// order, Backward in reverse, adding gradients where a tensor feeds several nodes.
//
// Buffers are allocated once per shape and reused: a training step (SetSeed, Forward,
// Backward) allocates nothing once the shapes are steady, as long as the layers don't.
package autodiff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// InputSpec declares a graph input: its name, shape and dtype, e.g. "data" N×3×H×W
// float32 or "label" N×H×W int32.
type InputSpec struct {
	Name  string
	Shape tensor.Shape
	Dtype tensor.Dtype
}

// Node is one named layer and the names of the tensors it reads: graph inputs or
// other nodes' outputs. Empty Inputs means the previous node in the list; for the
// first node, the first graph input.
type Node struct {
	Name   string
	Layer  layers.Layer
	Inputs []string
}

// NamedParam is a parameter with its qualified name "<node>.<param>", e.g.
// "upscore2.weight". The embedded *layers.Param carries the value, gradient and
// multipliers.
type NamedParam struct {
	Name string
	Node string
	*layers.Param
}

// Graph is a built network. It is not safe for concurrent use.
type Graph struct {
	dt     tensor.Dtype
	specs  []InputSpec     // current input shapes
	inVals []*tensor.Dense // inputs of the last Forward
	inGrad []buffer        // gradients wrt float inputs, when inputGrad is on
	nodes  []*gnode        // declared order
	order  []int           // topological order (indices into nodes)
	ids    map[string]int  // blob id: inputs 0..len(specs)-1, then nodes
	loss   int             // node index of the loss, or -1

	training  bool
	inputGrad bool
	ready     bool // every node is set up for specs' shapes
	forwarded bool // Forward ran since the last Reshape

	need []bool // scratch for Backward: node output needs a gradient
	mark []bool // scratch for Backward: node lies upstream of the seed
	// scratch for Backward, per input then node: how many backward edges write its
	// gradient, and whether the one that does may assign it (layers.GradAssigner)
	writers []int
	assign  []bool
}

// gnode is a node as the graph runs it.
type gnode struct {
	Node
	idx       int
	srcs      []int // blob ids of the inputs
	inShapes  []tensor.Shape
	outShape  tensor.Shape
	setUp     bool // Setup succeeded for inShapes
	out       buffer
	grad      buffer
	in        []*tensor.Dense
	dIn       []*tensor.Dense
	consumers int
	// fused: a ReLU whose producer (its only input, which it alone reads) applies it
	// (layers.ReLUFuser): the node shares the producer's output and gradient tensors
	// and does not run.
	fused  bool
	crop   *cropInfo       // nil unless the layer is a crop
	params []*layers.Param // the layer's, fetched after each Setup (Params may allocate)
}

// buffer is a tensor whose backing array is kept across shapes, so switching back and
// forth between shapes (train crops, eval images) does not allocate again.
type buffer struct {
	d     *tensor.Dense
	shape tensor.Shape
	f32   []float32
	f64   []float64
	valid bool
}

// get returns a tensor of the given shape and dtype, reusing the backing array.
func (b *buffer) get(dt tensor.Dtype, s tensor.Shape) *tensor.Dense {
	if b.valid && sameShape(b.shape, s) {
		return b.d
	}
	n := s.TotalSize()
	var backing any
	switch dt {
	case tensor.Float32:
		if cap(b.f32) < n {
			b.f32 = make([]float32, n)
		}
		backing = b.f32[:n]
	case tensor.Float64:
		if cap(b.f64) < n {
			b.f64 = make([]float64, n)
		}
		backing = b.f64[:n]
	default:
		panic(fmt.Sprintf("autodiff: buffer of dtype %v", dt))
	}
	b.shape = append(b.shape[:0], s...)
	b.d = tensor.New(tensor.WithShape(s...), tensor.WithBacking(backing))
	b.valid = true
	return b.d
}

// Build checks the wiring of nodes, orders them topologically, runs every layer's
// Setup for the input shapes (in topological order) and computes automatic crop
// offsets. The graph starts in evaluation mode: call SetTraining(true) to train. dt is the dtype of every float tensor: Float32 to train, Float64 to check
// gradients. Errors name the node, its inputs and their shapes; Build never panics on
// bad wiring or shapes.
func Build(inputs []InputSpec, nodes []Node, dt tensor.Dtype) (*Graph, error) {
	g, err := wire(inputs, nodes, dt)
	if err != nil {
		return nil, err
	}
	g.need = make([]bool, len(g.nodes))
	g.mark = make([]bool, len(g.nodes))
	g.writers = make([]int, len(g.specs)+len(g.nodes))
	g.assign = make([]bool, len(g.specs)+len(g.nodes))
	g.fuseReLUs(true)
	if err := g.setup(true); err != nil {
		return nil, err
	}
	// Layers disagree on their starting mode (dropout and batchnorm start in training,
	// as PyTorch modules); the graph starts every one in evaluation, deterministic.
	g.SetTraining(false)
	// The loss is the last sink (a node nobody reads) with a single-element output.
	for i := len(g.nodes) - 1; i >= 0; i-- {
		n := g.nodes[i]
		if n.consumers == 0 && n.outShape.TotalSize() == 1 {
			g.loss = i
			break
		}
	}
	return g, nil
}

// wire checks the inputs and nodes, resolves every node's inputs and sorts the nodes
// topologically; nothing is set up or allocated.
func wire(inputs []InputSpec, nodes []Node, dt tensor.Dtype) (*Graph, error) {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("autodiff: graph dtype %v: want float32 or float64", dt)
	}
	if len(inputs) == 0 {
		return nil, errors.New("autodiff: the graph needs at least one input")
	}
	if len(nodes) == 0 {
		return nil, errors.New("autodiff: the graph has no nodes")
	}
	g := &Graph{dt: dt, ids: make(map[string]int, len(inputs)+len(nodes)), loss: -1}
	for i, in := range inputs {
		if in.Name == "" {
			return nil, fmt.Errorf("autodiff: input %d has no name", i)
		}
		if _, dup := g.ids[in.Name]; dup {
			return nil, fmt.Errorf("autodiff: input %q declared twice", in.Name)
		}
		if err := checkShape(in.Shape); err != nil {
			return nil, fmt.Errorf("autodiff: input %q: %w", in.Name, err)
		}
		if isFloat(in.Dtype) && in.Dtype != dt {
			return nil, fmt.Errorf("autodiff: input %q is %v but the graph runs in %v", in.Name, in.Dtype, dt)
		}
		g.ids[in.Name] = i
		g.specs = append(g.specs, InputSpec{Name: in.Name, Shape: cloneShape(in.Shape), Dtype: in.Dtype})
	}
	g.inVals = make([]*tensor.Dense, len(inputs))
	g.inGrad = make([]buffer, len(inputs))
	for i, n := range nodes {
		switch {
		case n.Name == "":
			return nil, fmt.Errorf("autodiff: node %d has no name", i)
		case n.Layer == nil:
			return nil, fmt.Errorf("autodiff: node %q has no layer", n.Name)
		}
		if id, dup := g.ids[n.Name]; dup {
			what := "node"
			if id < len(inputs) {
				what = "graph input"
			}
			return nil, fmt.Errorf("autodiff: node name %q used twice (already a %s)", n.Name, what)
		}
		g.ids[n.Name] = len(inputs) + i
		g.nodes = append(g.nodes, &gnode{Node: Node{Name: n.Name, Layer: n.Layer, Inputs: append([]string(nil), n.Inputs...)}, idx: i})
	}
	// Resolve input names, defaulting to the previous node (or the first input).
	for i, n := range g.nodes {
		if len(n.Inputs) == 0 {
			if i == 0 {
				n.Inputs = []string{inputs[0].Name}
			} else {
				n.Inputs = []string{g.nodes[i-1].Name}
			}
		}
		for _, name := range n.Inputs {
			id, ok := g.ids[name]
			if !ok {
				return nil, fmt.Errorf("autodiff: node %q: unknown input %q%s", n.Name, name, g.suggest(name))
			}
			n.srcs = append(n.srcs, id)
			if id >= len(g.specs) {
				g.nodes[id-len(g.specs)].consumers++
			}
		}
		n.in = make([]*tensor.Dense, len(n.srcs))
		n.dIn = make([]*tensor.Dense, len(n.srcs))
		n.inShapes = make([]tensor.Shape, len(n.srcs))
		if ao, ok := n.Layer.(autoOffsetter); ok {
			n.crop = &cropInfo{layer: ao, auto: ao.AutoOffset()}
		}
	}
	if err := g.sort(); err != nil {
		return nil, err
	}
	return g, nil
}

// suggest returns ` (did you mean "x"?)` with the known name closest to name.
func (g *Graph) suggest(name string) string {
	best, bestD := "", -1
	for _, s := range g.specs {
		if d := editDistance(name, s.Name); bestD < 0 || d < bestD {
			best, bestD = s.Name, d
		}
	}
	for _, n := range g.nodes {
		if d := editDistance(name, n.Name); bestD < 0 || d < bestD {
			best, bestD = n.Name, d
		}
	}
	if bestD < 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sort orders the nodes topologically (Kahn's algorithm, taking the earliest declared
// ready node first so the order is stable), or reports a cycle by its node names.
func (g *Graph) sort() error {
	nIn := len(g.specs)
	indeg := make([]int, len(g.nodes))
	users := make([][]int, len(g.nodes))
	for i, n := range g.nodes {
		for _, s := range n.srcs {
			if s >= nIn {
				indeg[i]++
				users[s-nIn] = append(users[s-nIn], i)
			}
		}
	}
	done := make([]bool, len(g.nodes))
	for len(g.order) < len(g.nodes) {
		next := -1
		for i := range g.nodes {
			if !done[i] && indeg[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			return g.cycleError(done)
		}
		done[next] = true
		g.order = append(g.order, next)
		for _, u := range users[next] {
			indeg[u]--
		}
	}
	return nil
}

// cycleError finds a cycle among the nodes not yet ordered and names it.
func (g *Graph) cycleError(done []bool) error {
	nIn := len(g.specs)
	// Every unordered node has an unordered input; follow inputs until a node repeats.
	start := -1
	for i := range g.nodes {
		if !done[i] {
			start = i
			break
		}
	}
	seen := map[int]int{}
	var path []int
	cur := start
	for {
		if at, ok := seen[cur]; ok {
			path = path[at:]
			break
		}
		seen[cur] = len(path)
		path = append(path, cur)
		for _, s := range g.nodes[cur].srcs {
			if s >= nIn && !done[s-nIn] {
				cur = s - nIn
				break
			}
		}
	}
	// path follows inputs backwards; print it in data-flow order, from the node
	// declared first.
	first := 0
	for k, i := range path {
		if i < path[first] {
			first = k
		}
	}
	names := make([]string, 0, len(path)+1)
	for k := range path {
		names = append(names, g.nodes[path[(first-k+len(path))%len(path)]].Name)
	}
	names = append(names, names[0])
	return fmt.Errorf("autodiff: cycle: %s", strings.Join(names, " → "))
}

// setup runs Setup, in topological order, on every node whose input shapes changed
// (or every node when all is set). Crop offsets are computed the first time.
func (g *Graph) setup(all bool) error {
	g.ready = false
	g.forwarded = false
	for _, i := range g.order {
		n := g.nodes[i]
		changed := all || !n.setUp
		for k, s := range n.srcs {
			sh := g.shapeOf(s)
			if !sameShape(n.inShapes[k], sh) {
				changed = true
				n.inShapes[k] = cloneShape(sh)
			}
		}
		if !changed {
			continue
		}
		n.setUp = false
		if n.crop != nil && n.crop.auto && !n.crop.done {
			if err := g.autoCrop(n); err != nil {
				return err
			}
		}
		out, err := n.Layer.Setup(n.inShapes, g.dt)
		if err != nil {
			return g.setupError(n, err)
		}
		if err := checkShape(out); err != nil && len(out) > 0 {
			return fmt.Errorf("%s: layer %s returned output shape %s: %w", n.Name, n.Layer.Type(), formatShape(out), err)
		}
		n.outShape = cloneShape(out)
		n.params = n.Layer.Params()
		if err := g.checkParams(n); err != nil {
			return err
		}
		n.setUp = true
		// Tensors move to the new shape lazily; the backing arrays stay.
		n.out.valid = n.out.valid && sameShape(n.out.shape, out)
		n.grad.valid = n.grad.valid && sameShape(n.grad.shape, out)
	}
	for _, n := range g.nodes {
		if !n.fused {
			n.out.get(g.dt, n.outShape)
		}
	}
	for _, n := range g.nodes {
		if n.fused {
			n.out.d, n.out.valid = g.producer(n).out.d, false
		}
	}
	g.ready = true
	return nil
}

// fuseReLUs turns the fusion of ReLUs into their producers on or off (see gnode.fused):
// a ReLU is fused when its only input is a node that it alone reads, whose layer is a
// layers.ReLUFuser.
func (g *Graph) fuseReLUs(on bool) {
	nIn := len(g.specs)
	for _, n := range g.nodes {
		if n.fused {
			g.producer(n).Layer.(layers.ReLUFuser).SetFusedReLU(false)
			// Its own tensors again, at the next get.
			n.fused, n.out.valid, n.grad.valid = false, false, false
		}
	}
	if !on {
		return
	}
	for _, n := range g.nodes {
		// By type name, so layers wrapped for timing or the like fuse as they are.
		if n.Layer.Type() != "relu" || len(n.srcs) != 1 || n.srcs[0] < nIn {
			continue
		}
		p := g.nodes[n.srcs[0]-nIn]
		f, ok := p.Layer.(layers.ReLUFuser)
		if !ok || p.consumers != 1 {
			continue
		}
		n.fused = f.SetFusedReLU(true)
	}
}

// SetReLUFusion turns the fusion of ReLUs into the convolutions before them on (the
// default) or off. Fused, the convolution's output tensor holds the ReLU's output, as
// with Caffe's in-place ReLU: Value of either name gives max(y, 0). Both ways compute
// the same numbers bit for bit; fused saves a pass over each activation and its
// gradient and their memory.
func (g *Graph) SetReLUFusion(on bool) error {
	g.fuseReLUs(on)
	return g.setup(true)
}

// producer is the node whose output a fused ReLU node shares.
func (g *Graph) producer(n *gnode) *gnode { return g.nodes[n.srcs[0]-len(g.specs)] }

// checkParams rejects parameters the graph could not run: missing tensors, another
// dtype, a gradient shaped unlike its value, or two parameters of one name.
func (g *Graph) checkParams(n *gnode) error {
	seen := make(map[string]bool, len(n.params))
	for i, p := range n.params {
		switch {
		case p == nil || p.Value == nil || p.Grad == nil:
			return fmt.Errorf("%s: layer %s: parameter %d has no value or gradient tensor", n.Name, n.Layer.Type(), i)
		case p.Name == "" || seen[p.Name]:
			return fmt.Errorf("%s: layer %s: parameter %d has an empty or repeated name %q", n.Name, n.Layer.Type(), i, p.Name)
		case p.Value.Dtype() != g.dt || p.Grad.Dtype() != g.dt:
			return fmt.Errorf("%s.%s: parameter is %v, the graph runs in %v", n.Name, p.Name, p.Value.Dtype(), g.dt)
		case !sameShape(p.Value.Shape(), p.Grad.Shape()):
			return fmt.Errorf("%s.%s: gradient %s, value %s", n.Name, p.Name, formatShape(p.Grad.Shape()), formatShape(p.Value.Shape()))
		}
		seen[p.Name] = true
	}
	return nil
}

// setupError wraps a layer's Setup error with the node and its inputs' shapes, e.g.
// "fuse: upscore2 is 21×16×16 but score_pool3 is 21×15×15: sum: ...". The batch size
// is left out when all inputs share it, as it is rarely the culprit.
func (g *Graph) setupError(n *gnode, err error) error {
	shapes := n.inShapes
	dropN := true
	for _, s := range shapes {
		if len(s) < 2 || s[0] != shapes[0][0] {
			dropN = false
		}
	}
	show := func(s tensor.Shape) string {
		if dropN {
			return formatShape(s[1:])
		}
		return formatShape(s)
	}
	var b strings.Builder
	b.WriteString(n.Name)
	b.WriteString(": ")
	if len(shapes) == 1 {
		fmt.Fprintf(&b, "%s is %s", n.Inputs[0], show(shapes[0]))
	} else {
		diff := -1
		for k := 1; k < len(shapes); k++ {
			if show(shapes[k]) != show(shapes[0]) {
				diff = k
				break
			}
		}
		if diff > 0 {
			fmt.Fprintf(&b, "%s is %s but %s is %s", n.Inputs[0], show(shapes[0]), n.Inputs[diff], show(shapes[diff]))
			for k := 1; k < len(shapes); k++ {
				if k != diff {
					fmt.Fprintf(&b, ", %s is %s", n.Inputs[k], show(shapes[k]))
				}
			}
		} else {
			fmt.Fprintf(&b, "%s are all %s", strings.Join(n.Inputs, ", "), show(shapes[0]))
		}
	}
	return fmt.Errorf("%s: %w", b.String(), err)
}

func (g *Graph) shapeOf(id int) tensor.Shape {
	if id < len(g.specs) {
		return g.specs[id].Shape
	}
	return g.nodes[id-len(g.specs)].outShape
}

// Reshape sets new input shapes (positional, as declared) and re-runs Setup on the nodes
// whose input shapes change; parameters are kept. Nothing is done if no shape changes.
func (g *Graph) Reshape(shapes ...tensor.Shape) error {
	if len(shapes) != len(g.specs) {
		return fmt.Errorf("autodiff: reshape with %d shapes, the graph has %d inputs", len(shapes), len(g.specs))
	}
	changed := !g.ready
	for i, s := range shapes {
		if err := checkShape(s); err != nil {
			return fmt.Errorf("autodiff: input %q: %w", g.specs[i].Name, err)
		}
		if !sameShape(g.specs[i].Shape, s) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	for i, s := range shapes {
		if !sameShape(g.specs[i].Shape, s) {
			g.specs[i].Shape = cloneShape(s)
			g.inGrad[i].valid = false
		}
	}
	return g.setup(false)
}

// Forward runs every node in topological order on the given inputs (positional, as
// declared). If an input's shape differs from the current one, the graph is reshaped
// first. Outputs are read with Value; they stay valid until the next Forward or Reshape.
func (g *Graph) Forward(ctx context.Context, inputs ...*tensor.Dense) error {
	if len(inputs) != len(g.specs) {
		return fmt.Errorf("autodiff: forward with %d inputs, the graph has %d (%s)", len(inputs), len(g.specs), g.inputNames())
	}
	reshape := !g.ready
	for i, x := range inputs {
		if x == nil {
			return fmt.Errorf("autodiff: forward: input %q is nil", g.specs[i].Name)
		}
		if x.Dtype() != g.specs[i].Dtype {
			return fmt.Errorf("autodiff: forward: input %q is %v, want %v", g.specs[i].Name, x.Dtype(), g.specs[i].Dtype)
		}
		if !sameShape(x.Shape(), g.specs[i].Shape) {
			reshape = true
		}
	}
	if reshape {
		shapes := make([]tensor.Shape, len(inputs))
		for i, x := range inputs {
			shapes[i] = x.Shape()
		}
		if err := g.Reshape(shapes...); err != nil {
			return err
		}
	}
	g.forwarded = false
	copy(g.inVals, inputs)
	for _, i := range g.order {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("autodiff: forward stopped before %s: %w", g.nodes[i].Name, err)
		}
		n := g.nodes[i]
		if n.fused {
			continue // its producer applied it
		}
		for k, s := range n.srcs {
			n.in[k] = g.value(s)
		}
		n.Layer.Forward(n.in, n.out.d)
	}
	g.forwarded = true
	return nil
}

func (g *Graph) value(id int) *tensor.Dense {
	if id < len(g.specs) {
		return g.inVals[id]
	}
	return g.nodes[id-len(g.specs)].out.d
}

func (g *Graph) inputNames() string {
	names := make([]string, len(g.specs))
	for i, s := range g.specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// Backward seeds the loss node's gradient with 1 and runs the reverse pass. Activation
// gradients are zeroed first; parameter gradients accumulate until ZeroGrad.
func (g *Graph) Backward(ctx context.Context) error {
	if g.loss < 0 {
		return errors.New("autodiff: backward: the graph has no loss node (a sink with a single-element output); use BackwardFrom")
	}
	return g.backward(ctx, g.loss, nil)
}

// BackwardFrom runs the reverse pass from the named node with dOut as the gradient of
// its output (same shape), as for the scalar Σ out·dOut.
func (g *Graph) BackwardFrom(ctx context.Context, name string, dOut *tensor.Dense) error {
	id, ok := g.ids[name]
	if !ok || id < len(g.specs) {
		return fmt.Errorf("autodiff: backward from %q: not a node%s", name, g.suggest(name))
	}
	n := g.nodes[id-len(g.specs)]
	if dOut == nil || !sameShape(dOut.Shape(), n.outShape) || dOut.Dtype() != g.dt {
		return fmt.Errorf("autodiff: backward from %q: dOut must be %v %s", name, g.dt, formatShape(n.outShape))
	}
	return g.backward(ctx, n.idx, dOut)
}

func (g *Graph) backward(ctx context.Context, seed int, dOut *tensor.Dense) error {
	if !g.forwarded {
		return errors.New("autodiff: backward before forward")
	}
	nIn := len(g.specs)
	floatIn := func(id int) bool { return g.inputGrad && isFloat(g.specs[id].Dtype) }
	// A node's output needs a gradient if the node has a trainable parameter or reads
	// something that needs one; decided each call, as multipliers may change.
	for _, i := range g.order {
		n := g.nodes[i]
		need := false
		for _, p := range n.params {
			if !p.Frozen() {
				need = true
				break
			}
		}
		for _, s := range n.srcs {
			if s < nIn && floatIn(s) || s >= nIn && g.need[s-nIn] {
				need = true
			}
		}
		g.need[i] = need
		g.mark[i] = false
	}
	g.mark[seed] = true
	for k := len(g.order) - 1; k >= 0; k-- {
		i := g.order[k]
		if !g.mark[i] {
			continue
		}
		for _, s := range g.nodes[i].srcs {
			if s >= nIn {
				g.mark[s-nIn] = true
			}
		}
	}
	// A gradient written by a single backward edge whose layer can assign it is
	// assigned rather than zeroed and added into: most activation gradients of a chain.
	wants := func(s int) bool { return s < nIn && floatIn(s) || s >= nIn && g.need[s-nIn] }
	clear(g.writers)
	for _, i := range g.order {
		if !g.mark[i] || !g.need[i] {
			continue
		}
		for _, s := range g.nodes[i].srcs {
			if wants(s) {
				g.writers[s]++
			}
		}
	}
	clear(g.assign)
	for _, i := range g.order {
		n := g.nodes[i]
		ga, ok := n.Layer.(layers.GradAssigner)
		if !ok {
			continue
		}
		for j, s := range n.srcs {
			on := g.mark[i] && g.need[i] && wants(s) && g.writers[s] == 1
			if ga.SetAssignGrad(j, on) && on {
				g.assign[s] = true
			}
		}
	}
	for i := range g.specs {
		if floatIn(i) {
			d := g.inGrad[i].get(g.dt, g.specs[i].Shape)
			if !(g.writers[i] == 1 && g.assign[i]) {
				zeroDense(d)
			}
		}
	}
	for i, n := range g.nodes {
		if g.need[i] && !n.fused {
			n.grad.get(g.dt, n.outShape)
		}
	}
	for i, n := range g.nodes {
		if !g.need[i] {
			continue
		}
		if n.fused {
			// The producer's gradient tensor receives the gradient of the ReLU's output;
			// the producer's backward applies the ReLU's.
			n.grad.d, n.grad.valid = g.producer(n).grad.d, true
		}
		if s := nIn + i; !(g.writers[s] == 1 && g.assign[s]) {
			zeroDense(n.grad.d)
		}
	}
	if !g.need[seed] {
		return nil // nothing upstream of the seed learns
	}
	sg := g.nodes[seed].grad.d
	if dOut == nil {
		fillDense(sg, 1)
	} else {
		copyDense(sg, dOut)
	}
	for k := len(g.order) - 1; k >= 0; k-- {
		i := g.order[k]
		n := g.nodes[i]
		if !g.mark[i] || !g.need[i] || n.fused {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("autodiff: backward stopped at %s: %w", n.Name, err)
		}
		for j, s := range n.srcs {
			n.in[j] = g.value(s)
			n.dIn[j] = nil
			switch {
			case s < nIn && floatIn(s):
				n.dIn[j] = g.inGrad[s].d
			case s >= nIn && g.need[s-nIn]:
				n.dIn[j] = g.nodes[s-nIn].grad.d
			}
		}
		n.Layer.Backward(n.in, n.out.d, n.grad.d, n.dIn)
	}
	return nil
}

// ZeroGrad zeroes every parameter gradient. Backward adds into them, so calling
// Backward several times between ZeroGrad calls accumulates (Caffe's iter_size).
func (g *Graph) ZeroGrad() {
	for _, n := range g.nodes {
		for _, p := range n.params {
			zeroDense(p.Grad)
		}
	}
}

// SetTraining switches every layer that implements layers.TrainingSetter (dropout,
// batchnorm) between training and evaluation.
func (g *Graph) SetTraining(training bool) {
	g.training = training
	for _, n := range g.nodes {
		if ts, ok := n.Layer.(layers.TrainingSetter); ok {
			ts.SetTraining(training)
		}
	}
}

// Training reports the mode last set by SetTraining (false, evaluation, after Build).
func (g *Graph) Training() bool { return g.training }

// SetInputGrad makes Backward also compute gradients with respect to the float graph
// inputs (read with Grad) and, through them, every node; off by default.
func (g *Graph) SetInputGrad(on bool) { g.inputGrad = on }

// SetSeed gives every layers.Stochastic layer the seed NodeSeed(runSeed, step, i),
// i its index in the node list, so that a run resumed at a step draws the same numbers.
// Call it once per step before the step's first Forward; with iter_size > 1 the
// micro-batches of a step continue the layers' streams.
func (g *Graph) SetSeed(runSeed, step uint64) {
	for i, n := range g.nodes {
		if st, ok := n.Layer.(layers.Stochastic); ok {
			st.SetSeed(NodeSeed(runSeed, step, i))
		}
	}
}

// NodeSeed mixes a run seed, a step and a node index into one seed with splitmix64:
// s = mix(mix(mix(runSeed) ^ step) ^ node), mix being splitmix64's output function
// applied after adding its increment.
func NodeSeed(runSeed, step uint64, node int) uint64 {
	return splitmix64(splitmix64(splitmix64(runSeed)^step) ^ uint64(node))
}

// splitmix64 is one step of Steele, Lea and Flood's SplitMix64 generator.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Init calls Init on every layers.Initializer layer, in node order, all drawing from rng.
func (g *Graph) Init(rng *rand.Rand) {
	for _, n := range g.nodes {
		if in, ok := n.Layer.(layers.Initializer); ok {
			in.Init(rng)
		}
	}
}

// ParamsChanged tells every layer that watches its parameters (layers.ParamWatcher) that
// their values were written from outside, as loading a checkpoint does.
func (g *Graph) ParamsChanged() {
	for _, n := range g.nodes {
		if w, ok := n.Layer.(layers.ParamWatcher); ok {
			w.ParamsChanged()
		}
	}
}

// Params lists every parameter as "<node>.<param>", in node order then each layer's
// own order. The *layers.Param pointers are the layers' own.
func (g *Graph) Params() []NamedParam {
	var ps []NamedParam
	for _, n := range g.nodes {
		for _, p := range n.params {
			ps = append(ps, NamedParam{Name: n.Name + "." + p.Name, Node: n.Name, Param: p})
		}
	}
	return ps
}

// Inputs returns the input declarations with their current shapes.
func (g *Graph) Inputs() []InputSpec {
	out := make([]InputSpec, len(g.specs))
	for i, s := range g.specs {
		out[i] = InputSpec{Name: s.Name, Shape: cloneShape(s.Shape), Dtype: s.Dtype}
	}
	return out
}

// Nodes returns the node names in declared order.
func (g *Graph) Nodes() []string {
	names := make([]string, len(g.nodes))
	for i, n := range g.nodes {
		names[i] = n.Name
	}
	return names
}

// Order returns the node names in the topological order Forward runs them.
func (g *Graph) Order() []string {
	names := make([]string, len(g.order))
	for k, i := range g.order {
		names[k] = g.nodes[i].Name
	}
	return names
}

// Layer returns the named node's layer, or nil.
func (g *Graph) Layer(name string) layers.Layer {
	if n := g.node(name); n != nil {
		return n.Layer
	}
	return nil
}

// Shape returns the current shape of a node's output or of a graph input, or nil.
func (g *Graph) Shape(name string) tensor.Shape {
	id, ok := g.ids[name]
	if !ok {
		return nil
	}
	return cloneShape(g.shapeOf(id))
}

// Value returns a node's output (or a graph input) as of the last Forward; nil for an
// unknown name. The tensor is the graph's buffer: copy it to keep it across steps.
func (g *Graph) Value(name string) *tensor.Dense {
	id, ok := g.ids[name]
	if !ok {
		return nil
	}
	return g.value(id)
}

// Output is Value under the name most callers look for.
func (g *Graph) Output(name string) *tensor.Dense { return g.Value(name) }

// Grad returns the gradient of a node's output (or of a float input when SetInputGrad
// is on) from the last Backward; nil where none was computed. A ReLU fused into its
// convolution (SetReLUFusion) shares the convolution's gradient tensor, which the
// backward leaves holding the gradient of the convolution's output before the ReLU, as
// Caffe's in-place blobs do.
func (g *Graph) Grad(name string) *tensor.Dense {
	id, ok := g.ids[name]
	if !ok {
		return nil
	}
	if id < len(g.specs) {
		if b := g.inGrad[id]; g.inputGrad && b.valid {
			return b.d
		}
		return nil
	}
	n := g.nodes[id-len(g.specs)]
	if !n.grad.valid || !g.need[n.idx] {
		return nil
	}
	return n.grad.d
}

// LossNode returns the name of the node Backward seeds ("" if none): the last declared
// node that no other node reads and whose output has a single element.
func (g *Graph) LossNode() string {
	if g.loss < 0 {
		return ""
	}
	return g.nodes[g.loss].Name
}

// SetLossNode makes Backward seed the named node, whose output must be a single element.
func (g *Graph) SetLossNode(name string) error {
	n := g.node(name)
	if n == nil {
		return fmt.Errorf("autodiff: loss node %q: not a node%s", name, g.suggest(name))
	}
	if n.outShape.TotalSize() != 1 {
		return fmt.Errorf("autodiff: loss node %q has output %s, want a single element", name, formatShape(n.outShape))
	}
	g.loss = n.idx
	return nil
}

// Loss returns the loss node's value from the last Forward (NaN without one).
func (g *Graph) Loss() float64 {
	if g.loss < 0 || !g.forwarded {
		return math.NaN()
	}
	d := g.nodes[g.loss].out.d
	switch d.Dtype() {
	case tensor.Float32:
		return float64(d.Float32s()[0])
	default:
		return d.Float64s()[0]
	}
}

// Dtype is the dtype of the graph's float tensors.
func (g *Graph) Dtype() tensor.Dtype { return g.dt }

func (g *Graph) node(name string) *gnode {
	id, ok := g.ids[name]
	if !ok || id < len(g.specs) {
		return nil
	}
	return g.nodes[id-len(g.specs)]
}

func isFloat(dt tensor.Dtype) bool { return dt == tensor.Float32 || dt == tensor.Float64 }

func checkShape(s tensor.Shape) error {
	if len(s) == 0 {
		return errors.New("empty shape")
	}
	for _, d := range s {
		if d <= 0 {
			return fmt.Errorf("shape %s has a dimension ≤ 0", formatShape(s))
		}
	}
	return nil
}

func sameShape(a, b tensor.Shape) bool {
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

// cloneShape copies s into a fresh slice (tensor.Shape.Clone borrows from a pool).
func cloneShape(s tensor.Shape) tensor.Shape {
	if s == nil {
		return nil
	}
	return append(tensor.Shape{}, s...)
}

// formatShape writes a shape as 21×16×16.
func formatShape(s tensor.Shape) string {
	if len(s) == 0 {
		return "scalar"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "×")
}

func zeroDense(d *tensor.Dense) {
	switch d.Dtype() {
	case tensor.Float32:
		clear(d.Float32s())
	case tensor.Float64:
		clear(d.Float64s())
	}
}

func fillDense(d *tensor.Dense, v float64) {
	switch d.Dtype() {
	case tensor.Float32:
		s := d.Float32s()
		for i := range s {
			s[i] = float32(v)
		}
	case tensor.Float64:
		s := d.Float64s()
		for i := range s {
			s[i] = v
		}
	}
}

func copyDense(dst, src *tensor.Dense) {
	switch dst.Dtype() {
	case tensor.Float32:
		copy(dst.Float32s(), src.Float32s())
	case tensor.Float64:
		copy(dst.Float64s(), src.Float64s())
	}
}

// NodeInputs returns the names of the tensors the named node reads (graph inputs or
// other nodes), with the default "previous node" resolved; nil for an unknown node.
// Exporters use it to write the graph's wiring.
func (g *Graph) NodeInputs(name string) []string {
	n := g.node(name)
	if n == nil {
		return nil
	}
	out := make([]string, len(n.srcs))
	for i, id := range n.srcs {
		if id < len(g.specs) {
			out[i] = g.specs[id].Name
		} else {
			out[i] = g.nodes[id-len(g.specs)].Name
		}
	}
	return out
}

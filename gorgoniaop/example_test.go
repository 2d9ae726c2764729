package gorgoniaop_test

import (
	"fmt"
	"log"

	"github.com/fcn-dev/fcn/gorgoniaop"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A stride-2 transposed convolution with a 2×2 kernel puts x[i,j]·w at each 2×2 block
// (2i.., 2j..) of the output; L = Σy = Σx·Σw = 10·10, so ∂L/∂w is Σx = 10 everywhere
// and ∂L/∂x is Σw = 10 everywhere.
func Example() {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithName("x"), G.WithShape(1, 1, 2, 2),
		G.WithValue(tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))))
	w := G.NewTensor(g, tensor.Float64, 4, G.WithName("w"), G.WithShape(1, 1, 2, 2),
		G.WithValue(tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))))
	y, err := gorgoniaop.ConvTranspose2d(x, w, gorgoniaop.ConvOptions{Stride: [2]int{2, 2}})
	if err != nil {
		log.Fatal(err)
	}
	loss := G.Must(G.Sum(y))
	grads, err := G.Grad(loss, x, w)
	if err != nil {
		log.Fatal(err)
	}
	m := G.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("y", y.Shape(), y.Value().Data())
	fmt.Println("L", loss.Value())
	fmt.Println("dL/dx", grads[0].Value().Data())
	fmt.Println("dL/dw", grads[1].Value().Data())
	// Output:
	// y (1, 1, 4, 4) [1 2 2 4 3 4 6 8 3 6 4 8 9 12 12 16]
	// L 100
	// dL/dx [10 10 10 10]
	// dL/dw [10 10 10 10]
}

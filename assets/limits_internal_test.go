package assets

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
)

// doneAfter is a context whose Err turns to Canceled on its n-th call: a
// cancellation that arrives in the middle of a decode, at a known point.
type doneAfter struct {
	context.Context
	n, calls int
}

func (c *doneAfter) Err() error {
	c.calls++
	if c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

// TestDecodeStopsWhenCancelled: decodeRGBA checks its context between
// reads of the compressed data (and between bands of the conversion): a
// cancellation in the middle stops it with the context's error, after
// fewer reads than a whole decode makes.
func TestDecodeStopsWhenCancelled(t *testing.T) {
	im := image.NewGray(image.Rect(0, 0, 512, 512)) // grey: converted to RGBA8 in bands
	r := rand.New(rand.NewPCG(3, 4))
	for i := range im.Pix {
		im.Pix[i] = uint8(r.Uint32())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, im); err != nil {
		t.Fatal(err)
	}
	whole := &doneAfter{Context: context.Background(), n: 1 << 30}
	if _, _, _, err := decodeRGBA(whole, buf.Bytes(), 16384, 1<<30); err != nil {
		t.Fatal(err)
	}
	if whole.calls < 10 {
		t.Fatalf("a whole decode checked its context %d times: too few to cancel in the middle", whole.calls)
	}
	for _, n := range []int{1, whole.calls / 2, whole.calls - 1} {
		ctx := &doneAfter{Context: context.Background(), n: n}
		_, _, pix, err := decodeRGBA(ctx, buf.Bytes(), 16384, 1<<30)
		if !errors.Is(err, context.Canceled) || pix != nil {
			t.Fatalf("cancelled at check %d of %d: err %v, %d bytes of pixels", n, whole.calls, err, len(pix))
		}
		if ctx.calls > n+2 { // the check that stopped it, a read of the sniffing buffer, and the one naming why
			t.Fatalf("cancelled at check %d: it went on to check %d", n, ctx.calls)
		}
	}
}

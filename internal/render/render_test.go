package render_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk/vktest"
)

// renderScene draws the checker sprite on the left and the cube on the
// right, synchronization validation on, and returns the picture.
func renderScene(t *testing.T) *image.RGBA {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	b, err := m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	r, err := render.New(m, d, a, s, 128, 128)
	require.NoError(t, err)
	ctx := context.Background()
	sprite, err := b.LoadSpriteFrame(ctx, "checker.png")
	require.NoError(t, err)
	cube, err := b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)

	f, err := s.BeginFrame(ctx)
	require.NoError(t, err)
	require.NoError(t, r.Begin(f, [4]float32{0.1, 0.1, 0.15, 1}))
	require.NoError(t, r.DrawSprite(f, sprite, 8, 32, 48, 48, [4]float32{1, 1, 1, 1}))
	mvp := render.Orthographic(2, 2, 4).Mul(render.Translate(0.9, 0, 0)).Mul(render.RotateX(0.5)).Mul(render.RotateY(0.7)).Mul(render.Scale(0.6))
	require.NoError(t, r.DrawMesh(f, cube.Meshes[0], mvp, [4]float32{1, 1, 1, 1}))
	r.End(f, true)
	require.NoError(t, s.EndFrame(f))
	require.NoError(t, s.Wait(ctx, f.Serial()))
	img, err := r.Image(f)
	require.NoError(t, err)

	require.NoError(t, s.WaitIdle())
	r.Close()
	require.NoError(t, m.Close())
	require.NoError(t, s.Close())
	require.NoError(t, a.Close())
	return img
}

func TestRenderGolden(t *testing.T) {
	img := renderScene(t)
	// The sprite's first checker cell (red) lands at its top-left corner.
	c := img.RGBAAt(10, 34)
	require.Greater(t, int(c.R), 200, "sprite pixel %v", c)
	require.Less(t, int(c.G), 120)
	// Background where nothing is drawn.
	bg := img.RGBAAt(2, 2)
	require.InDelta(t, 26, int(bg.R), 2)

	const golden = "testdata/golden.png"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		f, err := os.Create(golden)
		require.NoError(t, err)
		require.NoError(t, png.Encode(f, img))
		require.NoError(t, f.Close())
	}
	f, err := os.Open(golden)
	require.NoError(t, err, "run UPDATE_GOLDEN=1 go test ./internal/render to make the golden image")
	defer f.Close()
	want, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, img.Bounds(), want.Bounds())
	diff := 0
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			wr, wg, wb, _ := want.At(x, y).RGBA()
			g := img.RGBAAt(x, y)
			if absDiff(uint8(wr>>8), g.R) > 2 || absDiff(uint8(wg>>8), g.G) > 2 || absDiff(uint8(wb>>8), g.B) > 2 {
				diff++
			}
		}
	}
	require.LessOrEqual(t, diff, img.Bounds().Dx()*img.Bounds().Dy()/1000, "%d pixels differ from the golden image", diff)
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

package render_test

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkassets/vkassets/alloc"
	"github.com/vkassets/vkassets/assets"
	"github.com/vkassets/vkassets/framesync"
	"github.com/vkassets/vkassets/internal/render"
	"github.com/vkassets/vkassets/vk/vktest"
)

// stack is a device with its allocator, frame sync, manager and a
// renderer of size×size, torn down by the test's cleanup.
type stack struct {
	s *framesync.Sync
	m *assets.Manager
	r *render.Renderer
}

func newStack(t *testing.T, size uint32) *stack {
	d := vktest.OpenWith(t, vktest.Options{SyncValidation: true})
	a, err := alloc.New(alloc.Options{Device: d})
	require.NoError(t, err)
	s, err := framesync.New(framesync.Options{Device: d, Allocator: a})
	require.NoError(t, err)
	m, err := assets.New(assets.Options{Device: d, Allocator: a, Sync: s})
	require.NoError(t, err)
	r, err := render.New(m, d, a, s, size, size)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.WaitIdle())
		r.Close()
		require.NoError(t, m.Close())
		require.NoError(t, s.Close())
		require.NoError(t, a.Close())
	})
	return &stack{s: s, m: m, r: r}
}

// frame renders one frame that draw records, cleared to a dark blue, and
// returns its picture.
func (st *stack) frame(t *testing.T, draw func(f *framesync.Frame) error) *image.RGBA {
	ctx := context.Background()
	f, err := st.s.BeginFrame(ctx)
	require.NoError(t, err)
	require.NoError(t, st.r.Begin(f, [4]float32{0.1, 0.1, 0.15, 1}))
	drawErr := draw(f)
	st.r.End(f, true)
	require.NoError(t, st.s.EndFrame(f))
	require.NoError(t, drawErr)
	require.NoError(t, st.s.Wait(ctx, f.Serial()))
	img, err := st.r.Image(f)
	require.NoError(t, err)
	return img
}

// TestRenderGolden draws the checker sprite on the left and the sample
// cube on the right.
func TestRenderGolden(t *testing.T) {
	st := newStack(t, 128)
	b, err := st.m.AddBundle("content", assets.SampleContent())
	require.NoError(t, err)
	ctx := context.Background()
	sprite, err := b.LoadSpriteFrame(ctx, "checker.png")
	require.NoError(t, err)
	cube, err := b.LoadScene(ctx, "scenes/cube.glb")
	require.NoError(t, err)
	img := st.frame(t, func(f *framesync.Frame) error {
		if err := st.r.DrawSprite(f, sprite, 8, 32, 48, 48, [4]float32{1, 1, 1, 1}); err != nil {
			return err
		}
		mvp := render.Orthographic(2, 2, 4).Mul(render.Translate(0.9, 0, 0)).Mul(render.RotateX(0.5)).Mul(render.RotateY(0.7)).Mul(render.Scale(0.6))
		return st.r.DrawMesh(f, cube.Meshes[0], mvp, [4]float32{1, 1, 1, 1})
	})
	// The sprite's first checker cell (red) lands at its top-left corner.
	c := img.RGBAAt(10, 34)
	require.Greater(t, int(c.R), 200, "sprite pixel %v", c)
	require.Less(t, int(c.G), 120)
	// Background where nothing is drawn.
	require.InDelta(t, 26, int(img.RGBAAt(2, 2).R), 2)
	checkGolden(t, "scene", img)
}

// khronosModels are Khronos glTF sample models (the assets package's
// assets/testdata/khronos, with their licences), each with an orthographic view that frames it: half
// the extent shown, and the turn about y then x.
const khronosDir = "../../assets/testdata/khronos"

var khronosModels = []struct {
	name, path   string
	extent       float32
	turnY, turnX float32
}{
	{"BoxVertexColors", "BoxVertexColors/glTF-Binary/BoxVertexColors.glb", 1, 0.6, 0.5},
	{"BoxWithSpaces", "Box With Spaces/glTF/Box With Spaces.gltf", 2.2, 0.6, 0.5},
	{"Triangle", "Triangle/glTF/Triangle.gltf", 1.2, 0, 0},
	{"TriangleWithoutIndices", "TriangleWithoutIndices/glTF/TriangleWithoutIndices.gltf", 1.2, 0, 0},
	{"OrientationTest", "OrientationTest/glTF-Binary/OrientationTest.glb", 10, -0.6, 0.4},
}

// TestKhronosGolden renders each sample model and compares it with its
// golden image (testdata/golden/<name>.png) within goldenTolerance.
func TestKhronosGolden(t *testing.T) {
	st := newStack(t, 128)
	b, err := st.m.AddBundle("khronos", os.DirFS(khronosDir))
	require.NoError(t, err)
	for _, model := range khronosModels {
		t.Run(model.name, func(t *testing.T) {
			scene, err := b.LoadScene(context.Background(), model.path)
			require.NoError(t, err)
			e := model.extent
			// glTF's y is up and its camera looks down -z; Vulkan's clip y
			// points down and its depth grows away: a half turn about x.
			viewProj := render.Orthographic(e, e, 2*e).Mul(render.RotateX(math.Pi)).
				Mul(render.RotateX(model.turnX)).Mul(render.RotateY(model.turnY))
			img := st.frame(t, func(f *framesync.Frame) error {
				return st.r.DrawScene(f, scene, viewProj, [4]float32{1, 1, 1, 1})
			})
			checkGolden(t, model.name, img)
		})
	}
}

// The tolerance of a golden comparison: a pixel differs when one of its
// channels is off by more than goldenChannelDelta (of 255); at most
// goldenMaxDiffering pixels (per 10,000) may differ. The slack is for
// another rasteriser or LLVM version rounding edges and filtering
// differently; lavapipe reproduces its own images exactly.
const (
	goldenChannelDelta = 3
	goldenMaxDiffering = 20 // per 10,000 pixels: 0.2%
)

// checkGolden compares img with testdata/golden/<name>.png. With
// VKASSETS_UPDATE_GOLDEN=1 it writes img there instead. On a mismatch it
// writes the picture and a diff image (differing pixels red, others a
// faded grey copy) to a temporary directory and names it.
func checkGolden(t *testing.T, name string, img *image.RGBA) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".png")
	if os.Getenv("VKASSETS_UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		writePNG(t, path, img)
		t.Logf("wrote %s", path)
		return
	}
	f, err := os.Open(path)
	require.NoError(t, err, "no golden image: VKASSETS_UPDATE_GOLDEN=1 go test ./internal/render makes it")
	want, err := png.Decode(f)
	f.Close()
	require.NoError(t, err)
	require.Equal(t, want.Bounds(), img.Bounds(), "%s: size", path)
	diff := image.NewRGBA(img.Bounds())
	differing, worst := 0, 0
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			w := color.RGBAModel.Convert(want.At(x, y)).(color.RGBA)
			g := img.RGBAAt(x, y)
			d := max(absDiff(w.R, g.R), absDiff(w.G, g.G), absDiff(w.B, g.B), absDiff(w.A, g.A))
			worst = max(worst, d)
			if d > goldenChannelDelta {
				differing++
				diff.SetRGBA(x, y, color.RGBA{255, 0, 0, 255})
			} else {
				l := uint8((int(g.R) + int(g.G) + int(g.B)) / 12)
				diff.SetRGBA(x, y, color.RGBA{l, l, l, 255})
			}
		}
	}
	allowed := img.Bounds().Dx() * img.Bounds().Dy() * goldenMaxDiffering / 10000
	if differing > allowed {
		dir, err := os.MkdirTemp("", "vkassets-golden-")
		require.NoError(t, err)
		writePNG(t, filepath.Join(dir, name+"-got.png"), img)
		writePNG(t, filepath.Join(dir, name+"-diff.png"), diff)
		t.Fatalf("%s: %d pixels differ by more than %d (at most %d may; worst channel difference %d); picture and diff in %s",
			path, differing, goldenChannelDelta, allowed, worst, dir)
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	require.NoError(t, f.Close())
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

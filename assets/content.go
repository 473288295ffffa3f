package assets

import (
	"embed"
	"io/fs"
)

//go:embed testdata/content
var sampleContent embed.FS

// SampleContent is the project's own sample content (PNG and JPEG images,
// glTF scenes), made by internal/gencontent: for examples, the demo and
// tests. Add it as a bundle: m.AddBundle("content", assets.SampleContent()).
func SampleContent() fs.FS {
	sub, err := fs.Sub(sampleContent, "testdata/content")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

package assets

import (
	"encoding/json"
	"fmt"

	"github.com/qmuntal/gltf"
)

// extTextureBasisu is the glTF extension whose source is a KTX2 image.
const extTextureBasisu = "KHR_texture_basisu"

// textureSource is the image a glTF texture samples: the KTX2 image of its
// KHR_texture_basisu extension when it has one (basisu true; the image
// loads by its KTX2 identifier, with the payloads the KTX2 loader takes),
// else its core source.
func textureSource(doc *gltf.Document, i int) (src int, basisu bool, err error) {
	if i < 0 || i >= len(doc.Textures) || doc.Textures[i] == nil {
		return 0, false, fmt.Errorf("%w: texture %d out of range (%d textures)", ErrDecode, i, len(doc.Textures))
	}
	t := doc.Textures[i]
	if raw, ok := t.Extensions[extTextureBasisu]; ok {
		where := fmt.Sprintf("textures[%d].extensions.%s", i, extTextureBasisu)
		msg, ok := raw.(json.RawMessage)
		if !ok {
			if msg, err = json.Marshal(raw); err != nil {
				return 0, false, fmt.Errorf("%w: %s: %v", ErrDecode, where, err)
			}
		}
		var ext struct {
			Source *int `json:"source"`
		}
		if err := json.Unmarshal(msg, &ext); err != nil {
			return 0, false, fmt.Errorf("%w: %s: not an object with an integer source", ErrDecode, where)
		}
		if ext.Source == nil || *ext.Source < 0 || *ext.Source >= len(doc.Images) || doc.Images[*ext.Source] == nil {
			return 0, false, fmt.Errorf("%w: %s.source: no such image (%d images)", ErrDecode, where, len(doc.Images))
		}
		return *ext.Source, true, nil
	}
	if t.Source == nil {
		return 0, false, fmt.Errorf("%w: textures[%d]: no source", ErrDecode, i)
	}
	if s := *t.Source; s < 0 || s >= len(doc.Images) || doc.Images[s] == nil {
		return 0, false, fmt.Errorf("%w: textures[%d].source: image %d out of range (%d images)", ErrDecode, i, s, len(doc.Images))
	}
	return *t.Source, false, nil
}

// basisuError names the texture and its KTX2 image in a load error of a
// KHR_texture_basisu source (nil stays nil).
func basisuError(texture, image int, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("texture %d (%s image %d): %w", texture, extTextureBasisu, image, err)
}

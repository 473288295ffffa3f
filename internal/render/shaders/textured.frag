#version 450
// Base colour: the texture (sRGB, decoded to linear by the sampler) times
// the material's factor (and the draw's tint) times the vertex colour.
layout(push_constant) uniform Push {
    mat4 mvp;
    vec4 uvScaleOffset;
    vec4 color;
    uint uvSet;
    uint alphaMode; // 0 opaque, 1 mask, 2 blend
    float alphaCutoff;
} pc;

layout(set = 0, binding = 0) uniform sampler2D tex;
layout(location = 0) in vec2 uv;
layout(location = 1) in vec4 color;
layout(location = 0) out vec4 outColor;

void main() {
    outColor = texture(tex, uv) * pc.color * color;
    if (pc.alphaMode == 1u && outColor.a < pc.alphaCutoff) {
        discard;
    }
    if (pc.alphaMode != 2u) {
        outColor.a = 1.0;
    }
}

#version 450
// The vertex colour times the texel at the centre of the bound texture.
layout(set = 0, binding = 0) uniform sampler2D tex;
layout(location = 0) in vec4 color;
layout(location = 0) out vec4 outColor;
void main() {
    outColor = color * texture(tex, vec2(0.5));
}

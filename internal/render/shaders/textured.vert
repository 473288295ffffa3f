#version 450
// One pipeline for sprites and meshes: a transform, a texture-coordinate
// scale and offset (a sprite frame's rectangle), and a tint.
layout(push_constant) uniform Push {
    mat4 mvp;
    vec4 uvScaleOffset;
    vec4 color;
} pc;

layout(location = 0) in vec3 inPos;
layout(location = 1) in vec2 inUV;
layout(location = 0) out vec2 uv;

void main() {
    gl_Position = pc.mvp * vec4(inPos, 1.0);
    uv = inUV * pc.uvScaleOffset.xy + pc.uvScaleOffset.zw;
}

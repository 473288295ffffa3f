#version 450
// vk's draw test: position and colour per vertex, a colour factor pushed.
layout(push_constant) uniform Push { vec4 factor; } pc;
layout(location = 0) in vec2 inPos;
layout(location = 1) in vec4 inColor;
layout(location = 0) out vec4 color;
void main() {
    gl_Position = vec4(inPos, 0.0, 1.0);
    gl_PointSize = 1.0;
    color = inColor * pc.factor;
}

//! napi-build sets the linker flags a Node addon needs on each platform (on
//! Linux: none beyond allowing N-API's symbols to stay undefined until Node
//! loads the library).
fn main() {
    napi_build::setup();
}

"""The Gradio app. ``build_app`` lays it out; ``launch.main`` starts it. Importing this package loads nothing."""

"""nbgrader configuration of the U-Net segmentation course (run nbgrader from this folder)."""

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = "unet-segmentation"
c.CourseDirectory.root = "."

"""End-to-end tests in JupyterLab and Chromium. A package, so that its fixtures (package
scope) end with its last test: Playwright's sync API keeps an event loop running in the main
thread for as long as its browser is open, and the tests after these use asyncio there."""

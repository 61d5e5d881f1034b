"""Staff pages in the admin: reads (selectors), what the pages show (presenters), and the views."""

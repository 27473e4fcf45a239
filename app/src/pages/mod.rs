//! One module per page.

pub mod admin_page;
pub mod captured_page;
pub mod change_password_page;
pub mod decky_page;
pub mod deploy_page;
pub mod fleet_page;
pub mod lazy;
pub mod login_page;
